"""The matchers' model configs: what a saved ZRCM or SDZRE folder's ``config.json`` holds and the ``matcher``
field of :class:`generation.matching.zsre.ZsreConfig` (each hyperparameter declared once, here; the harness
nests one instead of copying its fields). Tagged by ``model_type``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Similarity = Literal["inner", "cosine", "euclidean"]
"""ZRCM's D: inner product (the paper's), cosine or negative Euclidean distance."""
Keywords = Literal["as_written", "typed"]
"""SDZRE's head and tail abbreviations: RE-Matching's keywords as written, or without placeholder words
(``generation.matching.common.abbreviations``)."""
MarkerInit = Literal["new", "punct"]
"""The entity markers' embedding rows: new (the papers' new special tokens; e5's spare vocabulary rows) or punct,
the rows of "@" (head) and "#" (tail), Zhou and Chen's (2021) punctuation markers, which carry a pretrained
meaning when the embeddings stay frozen (``generation.matching.common.add_markers``). Measured (SDZRE, FewRel m = 10,
frozen markers, 5 seeds x 2 folds over relations): validation chose punct over new by +0.0178 macro F1 (standard
error 0.0074); test 68.93 against 68.27 (docs/results.md section 5.0e). The default stays the papers' reading."""


class ZrcmConfig(BaseModel):
    """ZRCM (../shared/papers/zrcm.txt, section III; ``generation.matching.zrcm``): defaults are the paper's."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model_type: Literal["zrcm"] = "zrcm"
    encoder: str = "bert-base-uncased"
    desc_dim: int = 384
    """Width of the description vectors V^d (set from the description encoder)."""
    alpha: float = 0.4
    """Eq. 6: weight of the seen-relation classification against the margin loss (ZRCM 0.4, SDZRE Eq. 26 0.33)."""
    beta: float = 4.0
    """Eq. 5: the hinge of the literal classification term, --cls-objective literal (4 FewRel, 0 Wiki-ZSL)."""
    gamma: float = 7.5
    """Eq. 3-4: margin of the ranking loss, in units of D."""
    similarity: Similarity = "inner"
    """ZRCM similarity D (the paper's choice: inner product)."""
    scale: float = Field(1.0, gt=0)
    """ZRCM: D is multiplied by this (with cosine, 20 makes gamma = 7.5 a cosine margin of 0.375)."""
    init: Literal["random", "identity"] = "random"
    """ZRCM output layers: random (the paper's) or identity (V+ = tanh(H0) at the start: training starts at the
    description baseline instead of chance; needs desc_dim = encoder width)."""
    sentence_state: Literal["first", "mean"] = "first"
    """ZRCM H0: the first token's state (the paper's) or the mean of the sentence's token states (what a
    mean-pooling encoder such as e5 produces); with an e5 encoder the sentence also gets its 'query: ' prefix."""
    prefix: str = ""
    """Prepended to every sentence (set by the harness: 'query: ' for e5 with sentence_state mean)."""
    input_form: Literal["markers", "appended"] = "markers"
    """ZRCM input: entity markers in the sentence (the paper's) or the pair appended in plain text,
    'sentence (head ; tail)', as the description baseline reads it; He1 / He2 then pool the appended mentions."""
    negative_path: Literal["cls", "same"] = "cls"
    """ZRCM ReNS / ENS: through [CLS] (the paper's) or through the positives' own path (markers, mentions)."""
    train_markers: bool = False
    """Keep the entity-marker embeddings trainable when --freeze-encoder-layers freezes the embeddings."""
    marker_init: MarkerInit = "new"
    """The entity markers' embedding rows: new (the paper's new special tokens) or punct, the rows of "@" (head)
    and "#" (tail), which carry a pretrained meaning when the embeddings stay frozen (see ``MarkerInit``)."""
    negatives: list[Literal["rns", "rens", "ens"]] = Field(default_factory=lambda: ["rns", "rens", "ens"])
    """ZRCM's negative samples (section III-B; ablations: leave one out, e.g. --zrcm-negatives rns ens)."""
    rns: Literal["hardest", "farthest"] = "hardest"
    """ZRCM random negative: the formula's most similar other-relation sentence, or the prose's farthest."""
    center_descriptions: bool = True
    """ZRCM: take V^d relative to the seen relations' mean description, unit length (raw vectors: off)."""
    cls_objective: Literal["ce", "literal"] = "ce"
    """ZRCM Eq. 5: the negated cross-entropy of the seen relation (ce) or the garbled literal hinge at beta."""
    dropout: float = 0.1
    """ZRCM: dropout on the [CLS] path of ReNS / ENS and before the output layer."""
    random_mask_prob: float = 0.15
    """ZRCM ReNS without relation words: share of the non-entity words masked at random."""
    max_length: int = 128
    """Sentence tokens kept."""
    seen_relations: list[str] = []
    """The training relations (set by the harness)."""


class SdzreConfig(BaseModel):
    """SDZRE (../shared/papers/sdzre.txt, section 3; ``generation.matching.sdzre``): defaults are the paper's
    where it prints them."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model_type: Literal["sdzre"] = "sdzre"
    encoder: str = "bert-base-uncased"
    desc_dim: int = 768
    """Width of the description vectors (set from the description encoder)."""
    alpha: float = 0.33
    """Eq. 26: weight of each keyword cosine; the description cosine gets 1 - 2 alpha."""
    tau: float = 0.05
    """SDZRE Eq. 25: temperature of the contrastive InfoNCE."""
    mask_prob: float = 0.15
    """SDZRE contrastive view: share of the features zeroed at random."""
    cutoff_ratio: float = 0.2
    """SDZRE feature cutoff ratio (0.2 FewRel, 0.1 Wiki-ZSL)."""
    gam_t: float = 0.02
    """SDZRE Eq. 27: margin against the hardest negative description (not printed in the paper)."""
    gam_b: float = 0.01
    """SDZRE Eq. 28: margin against the best semi-hard negative (not printed in the paper)."""
    top_k: int = 3
    """SDZRE Eq. 28: the semi-hard negatives are ranked after this many hard ones."""
    contrastive: bool = True
    """SDZRE ablation --no-contrastive: without contrastive learning."""
    distiller: bool = True
    """SDZRE ablation --no-distiller: without the bidirectional semantic distiller."""
    multi_negative: bool = True
    """SDZRE ablation --no-multi-negative: one random negative description instead of hard + semi-hard ones."""
    semi_hard: bool = True
    """SDZRE ablation --no-semi-hard: hard negative only (Eq. 27)."""
    distiller_grad: Literal["encoder", "distiller"] = "encoder"
    """Where L_Rev's reversed gradient (Eq. 12-13) goes: through the distiller into the encoder's token states (the
    literal reading) or into the distiller's own q, K, V only (the token states enter it detached), so that the
    encoder is not trained to hide the relation from every token."""
    context: Literal["markers", "mean"] = "markers"
    """SDZRE's context h_i (Eq. 4): the [E_h] and [E_t] marker states concatenated (the paper's) or the mean of
    the sentence's token states (what a mean-pooling encoder such as e5 is trained to produce; measured on 256 seen
    FewRel sentences: its cosine with the description ranks the right relation first among 67 for 71 %, the
    marker states' mean for 62 %)."""
    fc_init: Literal["random", "identity"] = "random"
    """SDZRE's context layer h_i -> ĥ_i: random (the paper's) or the mean of the two marker states ([I/2, I/2],
    zero bias; with context "mean" the identity), so that Eq. 26's description cosine starts where plain matching
    stands instead of at chance (measured: after 75 steps at lr 1e-4 from a random start that cosine ranks 2 % of
    seen sentences' relations first among 67, the marker mean 62 %)."""
    marker_init: MarkerInit = "new"
    """The entity markers' embedding rows: new (the paper's new special tokens) or punct, the rows of "@" (head)
    and "#" (tail), which carry a pretrained meaning when the embeddings stay frozen (see ``MarkerInit``)."""
    max_length: int = 128
    """Sentence tokens kept."""
    seen_relations: list[str] = []
    """The training relations (set by the harness)."""


MatcherConfig = Annotated[ZrcmConfig | SdzreConfig, Field(discriminator="model_type")]
"""One of the matchers' configs, told apart by ``model_type``."""
