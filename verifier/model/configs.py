"""The model configs: what a saved verifier folder's ``config.json`` holds, and the ``model`` field of
:class:`verifier.config.TrainConfig` (one owner per hyperparameter; the training config nests one of these
rather than copying its fields). Tagged by ``model_type``: ``cacre`` (the paper's module, ``cacre.py``),
``fusion`` (late fusion, ``fusion.py``) and ``bce`` (the cross-encoder baseline, ``bce.py``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ENCODER = "hfl/chinese-roberta-wwm-ext"
"""The encoder of every model config and of the GPU recipe (a hub name; offline: ``e5-small``)."""


class InfoNceParams(BaseModel):
    """The loss hyperparameters of CACRE's multi-granularity InfoNCE (Table 2 defaults), declared once: every
    CACRE-family model config inherits them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, use_attribute_docstrings=True)

    tau: float = Field(0.07, gt=0)
    """InfoNCE temperature (Eq. 20, Table 2)."""
    w: float = Field(0.7, ge=0, le=1)
    """Weight of the local term in the fused similarity (Eq. 16)."""
    top_k: float = Field(0.8, gt=0, le=1)
    """Share of the negatives kept as hard negatives (Eq. 18)."""
    base_margin: float = Field(0.08, ge=0)
    """Base of the dynamic margin (Eq. 19, Table 2)."""
    beta: float = Field(0.05, ge=0)
    """Dynamic-margin scale (Eq. 19); not given in the paper."""


Aggregation = Literal["cross", "same"]
"""Eq. 4's aggregation of the cross-attention outputs (``cross_attention.BidirectionalCrossAttention``)."""
LocalMode = Literal["position", "maxsim", "align"]
"""The local term of Eq. 8-11 (``verifier.losses.local_similarity``)."""
LocalMask = Literal["both", "anchor"]
Linearization = Literal["plain", "typed"]
"""A triple as 'head / relation / tail' or the CLoCE knowledge-injected template (``inputs.linearize``)."""


class CacreFamilyConfig(InfoNceParams):
    """What every CACRE-family model config holds (the paper's model and late fusion): the encoder, the
    projection network, the input lengths and the loss (Table 2 defaults). Declared once here."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    encoder: str = DEFAULT_ENCODER
    """HF encoder name or path; offline: e5-small (built by `verifier models pull e5-small`)."""
    hidden_size: int | None = None
    """Read from the encoder's HF config."""
    projection_dim: int = 512
    """Width of the projection network's output (Eq. 5-7, Table 2)."""
    dropout: float = 0.2
    """Dropout of the projection network and heads (Table 2)."""
    conv_kernel: int = 3
    """Kernel of the projection network's convolution (Eq. 5)."""
    residual_init: float = 1.0
    """Initial value of the projection network's learnable residual weight (Eq. 7)."""
    projection: bool = True
    """False = CACRE-pro ablation (Table 4)."""
    linearization: Linearization = "plain"
    """Triple as 'head / relation / tail' or the CLoCE knowledge-injected template with entity types."""
    max_text_length: int = 128
    """Text tokens kept (the rest is cut)."""
    score_text_length: int | None = Field(None, ge=1, le=512)
    """Text tokens read when scoring (eval mode), if not --max-text-length: the lower layers are pretrained to 512
    positions, so a model trained on short windows can read a longer sentence whole at scoring time. Off by default:
    on the CPU preset's model, 128 or 192 lowered the choice set's soft AUC 0.929 -> 0.927 (docs/results.md, 0)."""
    max_triple_length: int = 32
    """Linearised-triple tokens kept."""

    def text_window(self, training: bool) -> int:
        """Text tokens read: max_text_length in training, score_text_length (if set) when scoring."""
        return self.max_text_length if training or not self.score_text_length else self.score_text_length

    anchor_weight: float = 1.0
    """Weight of the loss with the anchor triple X_a as anchor."""
    entity_mask_prob: float = Field(0.0, ge=0, le=1)
    """Probability of masking the head/tail mentions in the text during training (context-or-names)."""


class CacreConfig(CacreFamilyConfig):
    """The paper's CACRE: architecture and similarity hyperparameters (Table 2 defaults); saved as
    ``config.json``."""

    model_type: Literal["cacre"] = "cacre"
    n_heads: int = 8
    """Heads of the cross-attention module (Eq. 2-4)."""
    cross_attention: bool = True
    """False = CACRE-att ablation (Table 4): no text-triple interaction, texts and triples encoded apart."""
    aggregation: Aggregation = "cross"
    """Eq. 4: each side aggregates the other side's values (cross) or its own (same)."""
    local_mode: LocalMode = "position"
    """Local term of Eq. 8-11: text token j against triple token j (position, the literal reading), each text
    token against its best-matching triple token (maxsim) or each triple token against its best text token
    (align)."""
    local_mask: LocalMask = "both"
    """Positions the position-wise local term averages over: real in both sequences, or the anchor's (padding
    counting as cosine 0)."""
    text_weight: float = 1.0
    """Weight of the loss with the text X_T as anchor."""
    text_positives: Literal["anchor_and_positive", "positive"] = "anchor_and_positive"
    """The correct triples the text view X_T is pulled towards (Section 2.3). ``positive`` is the paper's literal
    reading: the positive R_p only. But R_p is the *paraphrased* fact (a synonym or inverse relation), so when
    the negatives carry schema relation names (``perturb.v1``: 98 % of positives outside the schema, every
    negative inside) the text view can learn "canonical name = wrong" -- and the filter later scores canonical
    candidates. ``anchor_and_positive`` (default) adds a second InfoNCE term with the anchor R_a (the gold
    triple as written in the schema) as the positive, against the same negatives, and averages the two."""


class FusionConfig(CacreFamilyConfig):
    """Late-fusion CACRE; defaults are Table 2's where the paper gives one. Saved as ``config.json``."""

    model_type: Literal["fusion"] = "fusion"
    fusion_layers: int | None = Field(None, ge=1)
    """k: the top k encoder layers run jointly over [text; triple] and train; the rest run separately, frozen
    (None: all of them, a full cross-encoder; the CPU preset uses 6)."""
    text_prefix: str = ""
    """Prepended to every text (e5 encoders expect ``passage: ``)."""
    triple_prefix: str = ""
    """Prepended to every linearised triple (e5: ``query: ``)."""
    local_mode: LocalMode = "align"
    """Local term of Eq. 8-11: each triple token against its best-matching text token (align; the paper's module,
    --interaction paper, defaults to position: text token j against triple token j; maxsim: each text token
    against its best-matching triple token)."""
    entity_markers: bool = False
    """Mark the candidate's mentions in the text: before the joint layers, each text token inside an occurrence of
    the head, the tail or both gets a learned vector added (``fusion.MarkerEmbedding``; zero at the start, so the
    model starts as the pretrained encoder). The joint layers then see *where* the triple's entities are in the
    sentence (a wrong pairing, a reversed direction, an entity absent from the text), as relation-extraction
    models' entity markers do, without re-encoding the text per candidate. Off by default (the paper has none);
    both presets turn it on: the CPU preset's three epochs with markers against without (docs/results.md, section
    0; chosen on held-out train data): soft gold text AUC of held-out train groups 0.950 against 0.883, soft AUC
    of held-out train documents' LLM candidates 0.948 against 0.932, in-schema 0.941 against 0.916."""
    infonce_weight: float = 1.0
    """Weight of the multi-granularity InfoNCE (text view + anchor view)."""
    pointwise_weight: float = 1.0
    """Weight of the pointwise binary cross-entropy (anchor and positive 1, negatives 0)."""
    pointwise_on: Literal["pooled", "similarity"] = "pooled"
    """What the pointwise BCE reads: ``pooled`` = a linear head on the mean-pooled fused states (its own score);
    ``similarity`` = the fused cosine S_st itself through a learned scale and bias (the issue's second reading),
    so the cross-text BCE shapes the very score the filter reads."""
    score: Literal["pointwise", "similarity"] = "similarity"
    """What ``score_pairs`` returns as S_st: the fused text-triple cosine (default) or sigmoid of the pointwise
    logit. Measured on real Qwen2.5-Coder-1.5B candidates of 200 DuIE dev sentences (docs/results.md, section 0),
    the same CPU checkpoint (200 steps): soft candidate AUC 0.811 with the cosine, 0.622 with the pointwise head,
    which had only learned the base rate; ``verifier calibrate --decision`` makes either score comparable across
    texts."""


class BceConfig(BaseModel):
    """The plain cross-encoder baseline ("query: h r t" / "passage: text", mean pool, linear head, BCE)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model_type: Literal["bce"] = "bce"
    encoder: str = DEFAULT_ENCODER
    """HF encoder name or path."""
    hidden_size: int | None = None
    """Read from the encoder's HF config."""
    dropout: float = 0.2
    """Dropout before the linear head."""
    linearization: Linearization = "plain"
    """Triple as 'head / relation / tail' or the typed template."""
    max_length: int = 160
    """Text (128) plus a short linearised triple."""
    entity_mask_prob: float = 0.0
    """Probability of masking the head/tail mentions in the text during training."""
    text_prefix: str = ""
    """Prepended to every text (e5 encoders: ``passage: ``)."""
    triple_prefix: str = ""
    """Prepended to every linearised triple (e5 encoders: ``query: ``)."""


ModelConfig = Annotated[CacreConfig | FusionConfig | BceConfig, Field(discriminator="model_type")]
"""One of the model configs, told apart by ``model_type``."""

MODEL_CONFIGS: tuple[type[BaseModel], ...] = (FusionConfig, CacreConfig, BceConfig)
"""Every model config, the default (late fusion) first: the order in which their fields become flags."""

DERIVED = frozenset({"model_type", "hidden_size"})
"""Fields set by the code (the tag, the encoder's width), never by a flag."""


def model_fields() -> dict[str, tuple[type[BaseModel], Any]]:
    """Every settable model field -> (the first config that declares it, its field info): one flag each."""
    out: dict[str, tuple[type[BaseModel], Any]] = {}
    for cls in MODEL_CONFIGS:
        for name, info in cls.model_fields.items():
            if name not in DERIVED and name not in out:
                out[name] = (cls, info)
    return out
