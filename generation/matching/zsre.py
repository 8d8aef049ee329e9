"""The zero-shot RE harness: relation splits, training a matcher on the seen relations, and the canonical
evaluation on the unseen ones (``verifier zsre train|eval``).

Protocol: ``m`` unseen relations disjoint from the training relations, from a published split file
(RE-Matching ``rel2id``, AlignRE, Code-ZSRE) or a seeded random split; every test sentence is classified among
the m unseen relations only. Metrics: the canonical macro P/R/F1 of ZS-BERT / RE-Matching / AlignRE
(precision averaged over the distinct predicted labels, recall over the gold labels) and micro accuracy.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator

from generation.matching.configs import Keywords, MatcherConfig, SdzreConfig, ZrcmConfig
from verifier.config import StageConfig, given_dict, tagged
from verifier.data.splits import ZeroShotSplit
from verifier.loop import Budget, Loop, LoopState, chunks
from verifier.metrics import PRF

log = logging.getLogger(__name__)


class ZsreConfig(StageConfig):
    """The zero-shot matching harness: data, split and training budget here; the matcher's own hyperparameters
    nested in ``matcher`` (``generation.matching.configs``), given as flat flags (``--gamma``, ``--no-distiller``,
    ``--zrcm-init identity``) or a ``[zsre.matcher]`` TOML table."""

    section = "zsre"

    model: Literal["zrcm", "sdzre", "desc"] = "zrcm"
    """zrcm / sdzre: the trained matchers; desc: plain description matching with the fixed sentence encoder."""
    matcher: MatcherConfig = Field(default_factory=lambda: ZrcmConfig())
    """The matcher's config (ZRCM or SDZRE by --model), from the matcher flags; its encoder, description width,
    seen relations and prefix are set by the harness."""

    @model_validator(mode="before")
    @classmethod
    def _nest_matcher(cls, values: Any) -> Any:
        return nest_matcher_fields(values) if isinstance(values, dict) else values

    @classmethod
    def flag_fields(cls) -> dict[str, Any]:
        """The harness's fields, then the matchers' (declared once, in ``generation.matching.configs``) under
        their flag names; ``matcher`` itself is not a flag."""
        own = {k: v for k, v in cls.model_fields.items() if k != "matcher"}
        return {**own, **{k: info for k, (_, info) in matcher_flags().items() if k not in own}}

    data: Literal["fewrel", "wikizsl", "duie", "sample"] = "fewrel"
    """Dataset of the seen and unseen relations."""
    split: str | None = None
    """Dataset split holding the sentences (default: fewrel val_wiki, wikizsl dev_5rel, duie train, sample en)."""
    data_dir: str | None = None
    """Folder of the datasets (default: $VERIFIER_DATA, the user cache, then ../shared/data)."""
    m: int = Field(10, ge=1)
    """Number of unseen (test) relations."""
    seed: int = 40
    """Seed of the relation split and the training (the papers' runs: 40-44)."""
    split_file: str | None = None
    """A published RE-Matching rel2id split file instead of a seeded random split."""
    test_data: Literal["fewrel", "wikizsl", "duie", "sample"] | None = None
    """Cross-dataset zero-shot: test on this dataset's relations (``m`` of them, seeded, or all when it has
    fewer) and train on every relation of ``data`` that it does not contain. Unset: the papers' protocol,
    seen and unseen relations of one dataset."""
    test_split: str | None = None
    """Split of ``test_data`` holding the test sentences (default as for ``split``)."""
    aux_data: list[str] = Field(default_factory=list)
    """Extra training inventories, ``name`` or ``name:split`` (fewrel, wikizsl, duie, sample): every relation
    of theirs joins the seen relations, none is ever a validation or test relation (a relation that is one is
    dropped from the extra data), and their sentences are capped per relation like the seen ones. The papers
    train on 60-75 seen relations; ../shared/data holds 16 of FewRel's (train_wiki is missing), so a FewRel
    m = 5 split sees 11 and m = 10 sees 6. ``duie`` adds 46 Chinese relations (e5 is multilingual),
    ``wikizsl`` the 5 relations of its sample. Empty (default): the papers' single inventory."""
    n_val: int = Field(0, ge=0)
    """Validation relations held out as well (SDZRE's protocol uses 5)."""
    val_fold: int = Field(0, ge=0)
    """Which block of --n-val relations outside the test ones validates (folds over relations; the test relations
    stay the same): fold f holds out the f-th block of the seeded order, and the matcher trains on the others.
    0: the split without folds. Measured: with 3 validation relations, which 3 they are moves the validation
    choice more than sentence sampling does (docs/results.md sections 5.0d-5.0e); ``bench.zsre --val-folds``
    runs every fold of a seed."""
    encoder: str = "bert-base-uncased"
    """Trainable sentence encoder (the paper's; offline: e5-small)."""
    desc_encoder: str = "sentence-transformers/bert-base-nli-mean-tokens"
    """Fixed Sentence-BERT for descriptions (offline: minilm or e5-small)."""
    lr: float | None = None
    """Encoder learning rate. Default: the paper's (SDZRE 2e-6) or 2e-5 (ZRCM, not given in its paper)."""
    head_lr: float | None = None
    """Learning rate of the randomly initialised layers on top of the encoder. Default: SDZRE ``lr`` (its
    paper's single rate); ZRCM 1e-3 (its paper gives no rate). With a short CPU budget a larger one is
    needed: at 2e-5 the random output layer moves by ~1e-3 in 60 steps, so V+ stays a random projection of
    e5's anisotropic states and every test sentence lands on the same relation."""
    batch_size: int | None = Field(None, ge=2)
    """Default: the paper's (ZRCM 4, SDZRE 32)."""
    freeze_encoder_layers: int = Field(0, ge=0)
    """Freeze the embeddings and the lowest N encoder layers (a CPU budget; the papers fine-tune everything).
    The entity-marker embeddings then keep their initial values."""
    epochs: int = Field(1, ge=1)
    """Passes over the training sentences."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps."""
    max_minutes: float | None = Field(None, gt=0)
    """Stop training after this much wall time from the first step (a budget stated in minutes)."""
    progress: bool = True
    """A progress bar of the training steps on stderr."""
    eval_every: int = Field(50, ge=1)
    """With --n-val > 0: score the validation relations every N steps and keep the best checkpoint (early
    stopping on held-out validation relations, never on the test ones)."""
    val_candidates: Literal["val", "val+test"] = "val"
    """The descriptions a validation sentence is ranked among for early stopping: the validation relations' own
    (--n-val of them) or those and the test relations' (n_val + m, the test condition's size; reads the test
    relations' descriptions, which zero-shot inference reads anyway, never a test sentence or label). Three
    validation relations alone saturate: macro F1 0.93-1.00 from step 0 (docs/results.md section 5.0). The
    validation macro F1 averages over the validation relations only: an answer outside them costs recall."""
    max_train_per_relation: int | None = Field(None, ge=1)
    """Training sentences kept per seen relation (seeded; default: all)."""
    max_test_per_relation: int | None = Field(None, ge=1)
    """Test sentences kept per unseen relation (seeded; default: all)."""
    max_val_per_relation: int | None = Field(None, ge=1)
    """Validation sentences kept per validation relation (seeded; default: --max-test-per-relation, as before).
    Measured: with 40 sentences for each of 3 validation relations, sentence sampling alone moves the 5-seed mean
    of the best validation macro F1 by a bootstrap sd of 0.007-0.009 (docs/results.md section 5.0d), near the
    0.010 margin the choices of sections 5.0c-5.0d required. The validation relations' sentences are not test
    sentences, so more of them cost inference time only (the self-training pool is drawn outside them)."""
    choice_val_per_relation: int | None = Field(None, ge=1)
    """Fresh validation sentences per validation relation on which the output is scored once more, after
    training (``ZsreResult.choice_val_f1``): seeded, outside the early-stopping sample and the self-training pool,
    so the run never read them. ``val_f1`` is the best point of a curve on the sentences that chose the
    checkpoint, so it is noisy and favours noisier curves; this figure is neither, and is the one a choice
    between two configurations can read (docs/results.md section 5.0g, rule 12). Unset (default): not
    computed."""
    train_markers: bool = False
    """Keep the entity-marker embeddings trainable when --freeze-encoder-layers freezes the embeddings (both
    matchers; recorded in a saved ZRCM's config)."""
    cache_lower_states: bool = True
    """With --freeze-encoder-layers N: compute each sentence's states after the frozen embeddings and N lowest
    layers once and train only the layers above (the verifier's lower-layer cache,
    ``TextEncoder.enable_lower_cache``); the frozen layers then run without dropout. Not with --train-markers
    (trainable embeddings change the lower states). Off: every step runs the whole encoder."""
    hubness: Literal["none", "center", "csls"] = "center"
    """Test-time hubness correction of the (sentence, unseen relation) scores before the argmax
    (``generation.matching.common.correct_hubness``): center (column centring; chosen on validation relations:
    macro F1 75.5 against 65.2 for none over 5 seeds, docs/results.md section 5), csls, or none (the papers')."""
    keywords: Keywords = "as_written"
    """SDZRE's head and tail abbreviations (Eq. 6-7, ``generation.matching.common.abbreviations``): the RE-Matching
    keywords as written (default) or typed, without the placeholders "subject", "object", "item" and "entity".
    A saved model can be rescored with the other value (``--trained-model``); its descriptions.json records the
    abbreviations it was trained with."""
    synthetic: str | None = None
    """Gold records (JSONL) of synthetic sentences written from relation names and descriptions alone
    (``experiments/synth_relations.py``; RelationPrompt's idea, Chia et al., 2022). Those of the split's test and
    validation relations join the training sentences, so the matcher trains on every relation it will be asked
    about without seeing one of its real sentences; validation still scores the validation relations' real
    sentences, so early stopping measures the test condition. Unset: the papers' protocol (no sentence of an
    unseen relation in training)."""
    pseudo_label: int = Field(0, ge=0)
    """Self-training (transductive; a separate protocol from the papers', which never read an unseen relation's
    sentence before test): after training, the kept checkpoint labels an unlabelled pool of sentences of the
    unseen relations (``--pseudo-pool`` per relation, outside the test sample, their labels dropped; never a test
    sentence), the ``pseudo_label`` most confident per predicted relation (largest margin over the runner-up
    after the hubness correction) join the training sentences under the predicted relation, cycled up to the
    per-relation cap, and training goes on for ``--pseudo-steps``. The validation relations get the same from
    their own pool, so the validation F1 still measures the test condition and early stopping can reject the
    second round (its checkpoints compete with the first round's). 0 (default): no self-training."""
    pseudo_pool: int = Field(100, ge=1)
    """Unlabelled sentences per unseen (and validation) relation in the self-training pool."""
    pseudo_steps: int | None = Field(None, ge=1)
    """Training steps of the self-training round (default: --max-steps)."""
    pseudo_rounds: int = Field(1, ge=1)
    """Self-training rounds (with --pseudo-label). Each round relabels the same unlabelled pool with the
    checkpoint kept so far (the best on validation over every earlier step), replaces the previous round's
    pseudo-labels with the new ones and trains --pseudo-steps more; early stopping still picks among all
    checkpoints. 1 (default): one round, as measured in docs/results.md section 5.0. Iterating is classic
    self-training (Yarowsky, 1995): a round starts from a better model, so its pseudo-labels can be more precise."""
    desc_weight: float = Field(0.0, ge=0.0, le=1.0)
    """Weight w of the untrained description matcher (the baseline, ``--desc-encoder``) in the output scores:
    (1 - w) S / sd(h(S)) + w D / sd(h(D)) (``generation.matching.common.fuse_scores``), for the test and validation
    predictions and ``ZsreResult.val_f1``. Early stopping and the self-training pseudo-labels read the matcher's
    own scores S, so a trained model can be rescored with another w (``--trained-model``). 0 (default): the
    matcher alone; 1: the baseline's ranking. Why it was tried: self-training drifts on some splits, and the
    untrained matcher's errors need not be the trained one's. Measured (docs/results.md section 5.0f, rule 8):
    on SDZRE at m = 10, w = 0.25 lowers the validation macro F1 by 0.070 and test by 2.1 points, so the default
    stays 0."""
    fuse_in_training: bool = False
    """With --desc-weight: early stopping and the self-training pseudo-labels read the fused scores too, so the
    kept checkpoint and the pseudo-labels are chosen by what the run outputs. Off (default): they read the
    matcher's own scores, and --desc-weight changes the output alone."""
    ensemble_with: str | None = None
    """A second saved matcher (an earlier run's ``<out>/model`` folder, same split; any encoder, any matcher) whose
    output is averaged with this one's: (S1 / sd(h(S1)) + S2 / sd(h(S2))) / 2 (``fuse_scores`` at w = 0.5), for the
    test and validation predictions and ``val_f1``; early stopping and pseudo-labels read this matcher's own scores.
    Each side is scored against the descriptions its own description encoder embeds. Why: two encoders' matchers
    trained on the same split err on different sentences (e5-small against all-MiniLM-L6-v2: paired validation
    changes from -0.167 to +0.074, docs/results.md section 5.0j). Measured: averaged with the same matcher trained
    4 layers deep instead of 2, fresh validation +0.0216 at 2.44 standard errors over 20 pairs, short of its rule's
    2.5 (section 5.0k). Unset (default): this matcher alone. Not with --desc-weight."""
    trained_model: str | None = None
    """A matcher saved by an earlier run (its ``<out>/model`` folder) to evaluate instead of training one. Its
    split (test and validation relations) must be this config's; ``--desc-weight``, ``--hubness`` and ``--keywords``
    can differ."""
    out: str = "runs/zsre"
    """Run folder (metrics.json, predictions, the resolved config)."""
    device: str | None = None
    """cpu, cuda, cuda:1 (default: cuda when available)."""


FLAG_NAMES = {
    "init": "zrcm_init",
    "input_form": "zrcm_input",
    "negatives": "zrcm_negatives",
    "fc_init": "sdzre_init",
    "context": "sdzre_context",
    "distiller_grad": "sdzre_distiller_grad",
}
"""Matcher fields whose flag says which matcher they belong to (``--zrcm-init``, ``--sdzre-init``)."""
FIELD_OF = {flag: field for field, flag in FLAG_NAMES.items()}
SET_BY_HARNESS = frozenset({"model_type", "encoder", "desc_dim", "prefix", "seen_relations", "train_markers"})
"""Matcher fields the harness fills in (from --encoder, the description encoder, the split, --train-markers)."""
NEGATED = {"no_contrastive": "contrastive", "no_distiller": "distiller", "no_multi_negative": "multi_negative"}
NEGATED["no_semi_hard"] = "semi_hard"
"""Older keyword spellings of the SDZRE ablations (``no_distiller=True``); the flags are ``--no-distiller``."""


def matcher_flags() -> dict[str, tuple[type[BaseModel], Any]]:
    """Flag name -> (the first matcher config that declares the field, its field info)."""
    out: dict[str, tuple[type[BaseModel], Any]] = {}
    for c in (ZrcmConfig, SdzreConfig):
        for name, info in c.model_fields.items():
            flag = FLAG_NAMES.get(name, name)
            if name not in SET_BY_HARNESS and flag not in out:
                out[flag] = (c, info)
    return out


def nest_matcher_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Flat harness values (flags, TOML, keywords) -> the same with the matcher's fields inside ``matcher`` (the
    config of --model; a field of the other matcher is left out; None means the matcher's default)."""
    flags = matcher_flags()
    to_field = {flag: FIELD_OF.get(flag, flag) for flag in flags}
    values = {**values, **{NEGATED[k]: not v for k, v in values.items() if k in NEGATED and v is not None}}
    flat = {to_field[k]: v for k, v in values.items() if k in flags and v is not None}
    rest = {k: v for k, v in values.items() if k not in flags and k not in NEGATED}
    nested = given_dict(rest.get("matcher"))
    kind = "sdzre" if rest.get("model", nested.get("model_type")) == "sdzre" else "zrcm"
    if "model" not in rest and nested.get("model_type") in ("zrcm", "sdzre"):
        rest["model"] = kind
    cls = SdzreConfig if kind == "sdzre" else ZrcmConfig
    return {**rest, "matcher": tagged(cls, {**nested, **flat}, set(to_field.values()))}


def default_split(data: str) -> str:
    return {"fewrel": "val_wiki", "wikizsl": "dev_5rel", "duie": "train", "sample": "en"}[data]


def load_dataset(data: str, split: str | None, data_dir: str | None) -> tuple[list[Any], dict[str, Any]]:
    """Matching examples of ``data/split`` and its relation descriptions (DuIE: the lexicon's)."""
    from generation.matching.common import examples_from_records
    from verifier.data.catalog import load_relations, load_split

    recs = load_split(data, split or default_split(data), data_dir, skipped=[])
    examples = examples_from_records(recs)
    infos = load_relations(data, data_dir)
    if data == "duie":
        from verifier.lexicon import lexicon_for

        lex = lexicon_for("duie")
        for rel, e in lex.relations.items():
            if rel in infos:
                infos[rel] = infos[rel].model_copy(update={"description": e.description, "aliases": e.synonyms})
    return examples, infos


def load(cfg: ZsreConfig) -> tuple[list[Any], dict[str, Any], list[str] | None]:
    """Examples and descriptions of ``data``, plus those of ``test_data`` when set (its descriptions win),
    and then the relations of ``test_data`` (``None`` without it)."""
    examples, infos = load_dataset(cfg.data, cfg.split, cfg.data_dir)
    if cfg.test_data is None:
        return examples, infos, None
    test_ex, test_infos = load_dataset(cfg.test_data, cfg.test_split, cfg.data_dir)
    test_set = {e.relation_id for e in test_ex}
    examples = [e for e in examples if e.relation_id not in test_set] + test_ex
    return examples, {**infos, **test_infos}, sorted(test_set)


def parse_aux(spec: str) -> tuple[str, str | None]:
    """``name`` or ``name:split`` of an --aux-data entry."""
    from verifier.config import ConfigError

    name, _, split = spec.partition(":")
    if name not in ("fewrel", "wikizsl", "duie", "sample"):
        raise ConfigError(f"--aux-data {spec}: unknown dataset {name!r} (fewrel, wikizsl, duie, sample)")
    return name, split or None


def add_aux(cfg: ZsreConfig, split: Any, examples: list[Any], infos: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The split with the relations of ``cfg.aux_data`` added to its seen ones, and the aux sentences (of seen
    relations only: an aux relation that is a validation or test relation of the split is left out)."""
    held_out = set(split.test) | set(split.val)
    aux: list[Any] = []
    for spec in cfg.aux_data:
        name, aux_split = parse_aux(spec)
        ex, aux_infos = load_dataset(name, aux_split, cfg.data_dir)
        for rel, info in aux_infos.items():
            infos.setdefault(rel, info)
        aux += [e for e in ex if e.relation_id not in held_out]
    seen = sorted(set(split.train) | {e.relation_id for e in aux})
    known = {(e.doc_id, e.head, e.tail, e.relation_id) for e in examples}
    aux = [e for e in aux if (e.doc_id, e.head, e.tail, e.relation_id) not in known]
    return split.model_copy(update={"train": seen, "source": f"{split.source}+aux({','.join(cfg.aux_data)})"}), aux


def cycle_per_relation(examples: list[Any], per_relation: int | None) -> list[Any]:
    """Each relation's examples cycled up to ``per_relation`` rows (the seen relations' cap), so that a relation
    with few sentences is drawn as often as a seen one: 15 sentences among ~8,000 aux and seen ones would
    otherwise reach a 150-step run about twice."""
    by: dict[str, list[Any]] = defaultdict(list)
    for e in examples:
        by[e.relation_id].append(e)
    return [ex[i % len(ex)] for r, ex in sorted(by.items()) for i in range(max(len(ex), per_relation or len(ex)))]


def synthetic_examples(path: str, relations: set[str], per_relation: int | None) -> list[Any]:
    """The synthetic sentences of ``relations`` in the gold-record file ``path``, cycled per relation
    (:func:`cycle_per_relation`)."""
    from generation.matching.common import examples_from_records
    from verifier.io import read_jsonl
    from verifier.schema import GoldRecord

    found = [e for e in examples_from_records(read_jsonl(path, GoldRecord)) if e.relation_id in relations]
    return cycle_per_relation(found, per_relation)


def matcher_scores(cfg: ZsreConfig, model: Any, examples: list[Any], desc: dict[str, Any]) -> Any:
    """(N, R) scores of ``examples`` against described relations: SDZRE reads every description view (``v``, ``h``,
    ``t``), ZRCM the description vectors ``v`` only."""
    return model.scores(examples, desc if cfg.model == "sdzre" else desc["v"])


class OtherScores:
    """A second scorer's (N, R) scores (``score(examples, rels)``), fused with the matcher's at ``weight``
    (``run_scores``), memoised per sentence list and relation list (validation reads the same sentences at every
    evaluation)."""

    def __init__(self, score: Callable[[list[Any], list[str]], Any], weight: float) -> None:
        self.score = score
        self.weight = weight
        self.memo: dict[tuple[Any, ...], Any] = {}

    def __call__(self, examples: list[Any], rels: list[str]) -> Any:
        key = (tuple((e.doc_id, e.head_span, e.tail_span) for e in examples), tuple(rels))
        if key not in self.memo:
            self.memo[key] = self.score(examples, rels)
        return self.memo[key]


def baseline_scores(encoder_name: str, infos: dict[str, Any], weight: float) -> OtherScores:
    """The untrained description matcher's cosines, for --desc-weight."""
    from generation.matching.common import DescriptionMatcher

    matcher = DescriptionMatcher(encoder_name)
    return OtherScores(lambda ex, rels: matcher.scores(ex, matcher.describe([infos[r] for r in rels])), weight)


def partner_scores(directory: str, split: Any, device: Any) -> OtherScores:
    """A second saved matcher's scores for --ensemble-with (weight 0.5), each relation list described once by the
    partner's own description encoder and abbreviations (its descriptions.json)."""
    from generation.matching.common import saved_descriptions

    model, meta, kind = load_saved(Path(directory), split, "--ensemble-with")
    model = model.to(device).eval()
    described: dict[tuple[str, ...], Any] = {}

    def score(examples: list[Any], rels: list[str]) -> Any:
        if tuple(rels) not in described:
            desc = saved_descriptions(meta, rels, kind)
            described[tuple(rels)] = (
                {k: v.to(device) for k, v in desc.items()} if isinstance(desc, dict) else desc.to(device)
            )
        return model.scores(examples, described[tuple(rels)])

    return OtherScores(score, 0.5)


def run_scores(
    cfg: ZsreConfig, model: Any, examples: list[Any], rels: list[str], desc: dict[str, Any], baseline: Any = None
) -> Any:
    """(N, R) matcher scores of ``examples`` against ``rels`` (described by ``desc``), fused with the baseline's
    (``baseline_scores``, weight --desc-weight) or a second matcher's (``partner_scores``, --ensemble-with) when one
    is given (``generation.matching.common.fuse_scores``)."""
    from generation.matching.common import fuse_scores

    s = matcher_scores(cfg, model, examples, desc)
    return s if baseline is None else fuse_scores(s, baseline(examples, rels), baseline.weight, cfg.hubness)


def pool_seed(cfg: ZsreConfig) -> int:
    """The seed of the self-training pool's draw (``self_training_set``), which ``fresh_validation`` repeats."""
    return cfg.seed + 1


def sample_outside(examples: list[Any], relations: list[str], held: list[Any], per_rel: int, seed: int) -> list[Any]:
    """Up to ``per_rel`` seeded sentences of each of ``relations`` that are not in ``held``."""
    out = {id(e) for e in held}
    rels = set(relations)
    return cap_per_relation([e for e in examples if e.relation_id in rels and id(e) not in out], per_rel, seed)


def unlabelled_pool(
    examples: list[Any], relations: list[str], held: list[Any], per_rel: int, seed: int
) -> tuple[list[Any], list[str]]:
    """Up to ``per_rel`` seeded sentences of each of ``relations`` that are not in ``held`` (the test or
    validation sample): the self-training pool with its labels dropped (``relation_id`` None), and the hidden
    gold relations beside it (for the after-the-fact precision only)."""
    pool = sample_outside(examples, relations, held, per_rel, seed)
    return [e.model_copy(update={"relation_id": None}) for e in pool], [e.relation_id for e in pool]


def fresh_validation(cfg: ZsreConfig, examples: list[Any], val_rels: list[str], val_ex: list[Any]) -> list[Any]:
    """``--choice-val-per-relation`` sentences of each validation relation that the run never read: outside the
    early-stopping sample ``val_ex`` and, with self-training, outside the validation relations' pool (drawn
    exactly as ``self_training_set`` draws it)."""
    assert cfg.choice_val_per_relation is not None
    used = list(val_ex)
    if cfg.pseudo_label:
        used += sample_outside(examples, val_rels, val_ex, cfg.pseudo_pool, pool_seed(cfg))
    return sample_outside(examples, val_rels, used, cfg.choice_val_per_relation, cfg.seed + 2)


def pseudo_labelled(pool: list[Any], scores: Any, relations: list[str], hubness: str, k: int) -> list[tuple[int, str]]:
    """(pool index, relation) of the ``k`` pool sentences of largest margin per predicted relation, from a
    (pool, relations) score matrix corrected for hubness; per-relation selection keeps the classes balanced."""
    rows = predictions(pool, scores, relations, hubness, "test")
    by: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for n, p in enumerate(rows):
        by[p.relation].append((p.margin, n))
    return [(n, r) for r in sorted(by) for _, n in sorted(by[r], key=lambda x: -x[0])[:k]]


def self_training_set(
    cfg: ZsreConfig,
    model: Any,
    examples: list[Any],
    parts: list[tuple[str, list[str], list[Any], Any]],
    first: int,
    baseline: Any = None,
) -> tuple[list[Any], PseudoLabels]:
    """The self-training round's extra training sentences (``--pseudo-label``): for each part (test, val) with its
    relations, held-out sample and descriptions, the kept checkpoint labels that part's unlabelled pool among
    the part's relations, and the most confident per relation are cycled up to the per-relation cap. ``parts[0]``
    is the test part: its sentences are scored once more for the first round's figure. With ``baseline``
    (--fuse-in-training) the pool is labelled, and that figure taken, by the fused scores."""
    from verifier.metrics import zero_shot_macro

    pseudo_ex, counts, right = [], {}, {}
    for part, rels, held, desc in parts:
        pool, hidden = unlabelled_pool(examples, rels, held, cfg.pseudo_pool, pool_seed(cfg))
        chosen = []
        if pool:
            scores = run_scores(cfg, model, pool, rels, desc, baseline)  # (pool, relations)
            chosen = pseudo_labelled(pool, scores, rels, cfg.hubness, cfg.pseudo_label)
        pseudo_ex += [pool[n].model_copy(update={"relation_id": r}) for n, r in chosen]
        counts[part] = len(chosen)
        right[part] = float(np.mean([hidden[n] == r for n, r in chosen])) if chosen else None
    log.info("self-training on %s pseudo-labels (their precision, after the fact: %s)", counts, right)
    _, test_rels, test_ex, test_desc = parts[0]
    first_pred = _predict(run_scores(cfg, model, test_ex, test_rels, test_desc, baseline), test_rels, cfg.hubness)
    summary = PseudoLabels(test=counts["test"], val=counts["val"], precision_test=right["test"],
                           precision_val=right["val"], first_round_step=first,
                           first_round_macro=zero_shot_macro([e.relation_id for e in test_ex], first_pred))  # fmt: skip
    return cycle_per_relation(pseudo_ex, cfg.max_train_per_relation), summary


def cross_dataset_split(cfg: ZsreConfig, train_rels: list[str], test_rels: list[str]) -> Any:
    """Train on ``train_rels`` (``data``'s relations absent from ``test_data``), test on ``m`` seeded test ones;
    ``n_val`` seeded seen relations are held out for early stopping (``data``'s, never ``test_data``'s)."""
    from verifier.config import ConfigError
    from verifier.data.splits import ZeroShotSplit, validation_fold

    test = sorted(test_rels)
    if cfg.m < len(test):
        test = sorted(random.Random(cfg.seed).sample(test, cfg.m))
    if not train_rels or not test:
        raise ConfigError(
            f"--test-data {cfg.test_data}: no seen or no unseen relation left between {cfg.data} and {cfg.test_data}"
        )
    seen = sorted(train_rels)
    val = []
    if 0 < cfg.n_val < len(seen):
        first = random.Random(cfg.seed).sample(seen, cfg.n_val)  # fold 0: the validation before folds
        order = first + random.Random(cfg.seed).sample([r for r in seen if r not in first], len(seen) - cfg.n_val)
        try:
            val = validation_fold(order, cfg.n_val, cfg.val_fold)
        except ValueError as e:
            raise ConfigError(f"--val-fold: {e}") from None
    elif cfg.val_fold:
        raise ConfigError(f"--val-fold {cfg.val_fold}: needs --n-val between 1 and {len(seen) - 1}")
    return ZeroShotSplit(
        train=[r for r in seen if r not in val],
        test=test,
        val=val,
        source=f"{cfg.data}->{cfg.test_data}(m={len(test)},seed={cfg.seed},n_val={len(val)}"
        + (f",val_fold={cfg.val_fold})" if cfg.val_fold else ")"),
    )


def make_split(cfg: ZsreConfig, relations: list[str]) -> Any:
    from verifier.data.splits import load_rematching_split, random_split

    if cfg.split_file:
        s = load_rematching_split(cfg.split_file)
        present = set(relations)
        return s.model_copy(
            update={
                "train": [r for r in s.train if r in present],
                "test": [r for r in s.test if r in present],
                "val": [r for r in s.val if r in present],
            }
        )
    try:
        return random_split(relations, cfg.m, cfg.seed, cfg.n_val, cfg.val_fold)
    except ValueError as e:
        from verifier.config import ConfigError

        raise ConfigError(f"--m / --n-val: {e}") from None


def validation_choice(cfg: ZsreConfig, split: Any) -> list[str]:
    """The relations whose descriptions early stopping ranks a validation sentence among (``val_candidates``)."""
    return list(split.val) + (list(split.test) if cfg.val_candidates == "val+test" else [])


def cap_per_relation(
    examples: list[Any], per_rel: int | None, seed: int, key: Callable[[Any], str] = lambda e: e.relation_id
) -> list[Any]:
    """At most ``per_rel`` seeded random items per relation (``key``), relations in sorted order."""
    if per_rel is None:
        return examples
    by: dict[str, list[Any]] = defaultdict(list)
    for e in examples:
        by[key(e)].append(e)
    rng = random.Random(seed)
    out = []
    for r in sorted(by):
        out += rng.sample(by[r], min(per_rel, len(by[r])))
    return out


def build_matcher(cfg: ZsreConfig, desc_dim: int, seen: list[str]) -> Any:
    """The matcher of ``cfg.matcher`` with what the harness sets: the encoder, the description width, the seen
    relations, the marker setting and, for ZRCM reading a mean-pooling e5 state, its 'query: ' prefix."""
    from generation.matching.common import is_e5
    from verifier.model.encoder import TextEncoder

    encoder = TextEncoder.from_name(cfg.encoder)
    mc = cfg.matcher
    update: dict[str, Any] = {"encoder": cfg.encoder, "desc_dim": desc_dim, "seen_relations": seen}
    if isinstance(mc, SdzreConfig):
        from generation.matching.sdzre import SDZRE

        return SDZRE(mc.model_copy(update=update), encoder)
    from generation.matching.zrcm import ZRCM

    update["prefix"] = "query: " if mc.sentence_state == "mean" and is_e5(cfg.encoder) else ""
    update["train_markers"] = cfg.train_markers
    return ZRCM(mc.model_copy(update=update), encoder)


def load_saved(d: Path, split: Any, flag: str) -> tuple[Any, dict[str, Any], str]:
    """A matcher an earlier run saved in ``d``, its descriptions.json and its kind (sdzre / zrcm), after checking
    that it was trained for ``split`` (the same test and validation relations); another split is a one-line error
    naming the folder and ``flag``."""
    from verifier.config import ConfigError
    from verifier.io import InputError, read_json
    from verifier.model.persistence import read_model_config

    kind = read_model_config(d).get("model_type")
    if not (d / "descriptions.json").exists():
        raise InputError(d / "descriptions.json", 0, "path", "missing: the matcher's split is unknown")
    meta = read_json(d / "descriptions.json")
    saved = meta.get("split") or {}
    if (saved.get("test"), saved.get("val")) != (list(split.test), list(split.val)):
        raise ConfigError(
            f"{flag} {d}: trained for test {saved.get('test')} / validation {saved.get('val')}, but this "
            f"config's split is test {list(split.test)} / validation {list(split.val)} (check --m, --seed, --n-val, "
            "--val-fold)"
        )
    if kind == "sdzre":
        from generation.matching.sdzre import SDZRE

        return SDZRE.from_pretrained(d), meta, kind
    from generation.matching.zrcm import ZRCM

    return ZRCM.from_pretrained(d), meta, "zrcm"


def load_trained(cfg: ZsreConfig, split: Any) -> Any:
    """The matcher saved in ``cfg.trained_model`` (an earlier run's ``model`` folder). Another matcher or another
    split (test or validation relations) than this config's is a one-line error naming the folder."""
    from verifier.config import ConfigError
    from verifier.model.persistence import read_model_config

    d = Path(cfg.trained_model or "")
    kind = read_model_config(d).get("model_type")
    if kind != cfg.model:
        raise ConfigError(f"--trained-model {d}: a saved {kind} matcher, not {cfg.model} (--model)")
    return load_saved(d, split, "--trained-model")[0]


def param_groups(model: Any, lr: float, head_lr: float, no_decay: Any = None) -> list[dict[str, Any]]:
    """Encoder parameters at ``lr``, everything else (fusion, output, classifier, distiller) at ``head_lr``;
    ``no_decay`` (the embedding matrix whose marker rows alone train) in its own group without weight decay."""
    enc = {id(p) for p in model.encoder.parameters()}
    params = [p for p in model.parameters() if p.requires_grad and p is not no_decay]
    groups = [
        {"params": [p for p in params if id(p) in enc], "lr": lr},
        {"params": [p for p in params if id(p) not in enc], "lr": head_lr},
    ]
    return groups + ([{"params": [no_decay], "lr": head_lr, "weight_decay": 0.0}] if no_decay is not None else [])


def _predict(scores: Any, relations: list[str], hubness: str) -> list[str]:
    """The relation of each row of a (sentences, relations) score matrix: argmax after the hubness correction."""
    from generation.matching.common import correct_hubness

    return [relations[i] for i in correct_hubness(scores, hubness).argmax(-1).tolist()]  # type: ignore[arg-type]


class Prediction(BaseModel):
    """One sentence's answer, written to ``<out>/predictions.jsonl`` (test relations; ``part="val"``: the
    validation relations, scored by the kept checkpoint among the validation relations only). ``score`` and
    ``margin`` are after the hubness correction: the winner's score and its lead over the runner-up (the matcher's
    own confidence, a gate feature in ``experiments/matcher_gate.py``)."""

    part: Literal["test", "val"]
    doc_id: str
    text: str
    head: str
    tail: str
    head_span: tuple[int, int]
    tail_span: tuple[int, int]
    gold: str | None
    relation: str
    score: float
    margin: float


def predictions(examples: list[Any], scores: Any, relations: list[str], hubness: str, part: str) -> list[Prediction]:
    """Prediction rows of a (sentences, relations) score matrix (argmax after the hubness correction)."""
    from generation.matching.common import correct_hubness

    if not examples:
        return []
    c = correct_hubness(scores, hubness)  # type: ignore[arg-type]
    top = c.topk(min(2, c.shape[1]), dim=-1).values  # (N, 2)
    margin = (top[:, 0] - top[:, 1]) if top.shape[1] > 1 else top[:, 0] * 0
    return [
        Prediction(
            part=part,  # type: ignore[arg-type]
            doc_id=e.doc_id,
            text=e.text,
            head=e.head,
            tail=e.tail,
            head_span=e.head_span,
            tail_span=e.tail_span,
            gold=e.relation_id,
            relation=relations[i],
            score=float(top[n, 0]),
            margin=float(margin[n]),
        )
        for n, (e, i) in enumerate(zip(examples, c.argmax(-1).tolist(), strict=True))
    ]


class ValidationPoint(BaseModel):
    step: int
    val_f1: float
    """Macro F1 on the validation relations (``--n-val``) at this step."""


class LowerCacheUse(BaseModel):
    """How the lower-layer state cache served a run (``--cache-lower-states``)."""

    layers: int
    hits: int
    misses: int


class PseudoLabels(BaseModel):
    """The self-training round (``--pseudo-label``). ``precision_*``: the share of pseudo-labels equal to the pool
    sentence's hidden gold relation, a diagnostic written after the fact; nothing reads it."""

    test: int
    val: int
    precision_test: float | None
    precision_val: float | None
    first_round_step: int
    """The step where the self-training round started from (the first round's kept checkpoint)."""
    first_round_macro: PRF
    """The test macro P/R/F1 of that checkpoint: the run without self-training, for the record (the same split,
    seed and first round); nothing reads it. In a later round (``ZsreResult.later_rounds``): the checkpoint that
    round started from."""


class ZsreResult(BaseModel):
    """What ``verifier zsre`` measured; written to ``<out>/metrics.json``."""

    model: str
    data: str
    test_data: str | None
    m: int
    seed: int
    split: ZeroShotSplit
    train_examples: int
    test_examples: int
    macro: PRF
    """The canonical zero-shot macro P/R/F1 (``verifier.metrics.zero_shot_macro``)."""
    micro_accuracy: float
    predicted_label_counts: dict[str, int]
    hubness: str
    keywords: str | None = None
    """SDZRE's head and tail abbreviations (``--keywords``); unset for the other models and in older records."""
    steps: int | None = None
    validation: list[ValidationPoint] = Field(default_factory=list)
    best_step: int | None = None
    lower_cache: LowerCacheUse | None = None
    pseudo: PseudoLabels | None = None
    later_rounds: list[PseudoLabels] = Field(default_factory=list)
    """Self-training rounds after the first (``--pseudo-rounds``), in order."""
    val_f1: float | None = None
    """Macro F1 over the validation relations of the output scores (``--desc-weight`` included), the validation
    sentences ranked among the early-stopping candidates (``--val-candidates``): with w = 0, the kept checkpoint's
    validation figure."""
    choice_val_f1: float | None = None
    """``val_f1``'s ranking on fresh validation sentences (``--choice-val-per-relation``): the kept output scored
    on sentences the run never read, free of the best-of-curve bias."""
    train_s: float
    inference_sentences_per_s: float | None


def run_zsre(cfg: ZsreConfig, train: bool = True) -> ZsreResult:
    """Split, (train), evaluate; writes metrics.json (and the model for zrcm) under ``cfg.out``."""
    import torch

    from generation.matching.common import DescriptionMatcher, relation_text, sentence_embeddings
    from verifier.metrics import zero_shot_macro
    from verifier.model.encoder import TextEncoder

    torch.manual_seed(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    examples, infos, test_rels = load(cfg)
    relations = sorted({e.relation_id for e in examples})
    if test_rels is None:
        split = make_split(cfg, relations)
    else:
        split = cross_dataset_split(cfg, sorted(set(relations) - set(test_rels)), test_rels)
    if cfg.aux_data:
        split, aux_ex = add_aux(cfg, split, examples, infos)
        examples = examples + aux_ex
    train_set, test_set = set(split.train), set(split.test)
    train_ex = cap_per_relation(
        [e for e in examples if e.relation_id in train_set], cfg.max_train_per_relation, cfg.seed
    )
    trained = list(split.train)  # the relations the matcher trains on (its seen relations)
    if cfg.synthetic:
        synth = synthetic_examples(cfg.synthetic, set(split.test) | set(split.val), cfg.max_train_per_relation)
        train_ex += synth
        trained += sorted({e.relation_id for e in synth})
        split = split.model_copy(update={"source": f"{split.source}+synthetic({len(synth)})"})
    if cfg.pseudo_label:  # the self-training round trains on pseudo-labelled sentences of these
        trained += sorted(r for r in {*split.test, *split.val} if r not in trained)
    test_ex = cap_per_relation([e for e in examples if e.relation_id in test_set], cfg.max_test_per_relation, cfg.seed)
    val_cap = cfg.max_val_per_relation or cfg.max_test_per_relation
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    t0 = time.perf_counter()
    steps = 0
    extra_pseudo: PseudoLabels | None = None
    later_rounds: list[PseudoLabels] = []
    val_log: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, Any]] | None = None  # (validation macro F1, step, state dict)
    val_f1: float | None = None  # the output scores' validation figure (ZsreResult.val_f1)
    choice_val_f1: float | None = None  # the same on fresh validation sentences (ZsreResult.choice_val_f1)
    if cfg.ensemble_with and (cfg.desc_weight or cfg.model == "desc"):
        from verifier.config import ConfigError

        raise ConfigError("--ensemble-with: a trained matcher's option, and not with --desc-weight")
    if cfg.model == "desc":
        matcher = DescriptionMatcher(cfg.desc_encoder)
        desc_test = matcher.describe([infos[r] for r in split.test])
        t_inf = time.perf_counter()
        scores = matcher.scores(test_ex, desc_test)
        infer_s = time.perf_counter() - t_inf
        train_s = 0.0
        val_ex = cap_per_relation([e for e in examples if e.relation_id in set(split.val)], val_cap, cfg.seed)
        val_scores = matcher.scores(val_ex, matcher.describe([infos[r] for r in split.val])) if val_ex else None
    else:
        from generation.matching.common import abbreviations, is_e5

        desc_enc = TextEncoder.from_name(cfg.desc_encoder).eval().to(device)
        prefix = "passage: " if is_e5(cfg.desc_encoder) else ""

        def describe(rels: list[str]) -> dict[str, torch.Tensor]:
            texts = [relation_text(infos[r]) for r in rels]
            heads, tails = (
                zip(*(abbreviations(infos[r], cfg.keywords) for r in rels), strict=True) if rels else ((), ())
            )
            return {
                k: sentence_embeddings(desc_enc, list(v), prefix).to(device)
                for k, v in (("v", texts), ("h", heads), ("t", tails))
            }

        desc_train, desc_test = describe(trained), describe(split.test)
        model = (
            load_trained(cfg, split) if cfg.trained_model else build_matcher(cfg, desc_train["v"].shape[-1], trained)
        ).to(device)
        model.encoder.freeze_bottom(cfg.freeze_encoder_layers)  # after the markers resized the embeddings
        markers = None
        if cfg.train_markers and cfg.freeze_encoder_layers > 0:
            from generation.matching.common import MARKERS, train_marker_rows
            from generation.matching.sdzre import SDZRE_MARKERS

            markers = train_marker_rows(model.encoder, SDZRE_MARKERS if cfg.model == "sdzre" else MARKERS)
        elif cfg.cache_lower_states and cfg.freeze_encoder_layers > 0:
            model.encoder.enable_lower_cache(min(cfg.freeze_encoder_layers, model.encoder.n_layers))
        lr = cfg.lr or (2e-6 if cfg.model == "sdzre" else 2e-5)
        bs = cfg.batch_size or (32 if cfg.model == "sdzre" else 4)
        val_ex = cap_per_relation([e for e in examples if e.relation_id in set(split.val)], val_cap, cfg.seed)
        desc_val = describe(list(split.val)) if val_ex else None
        choice = validation_choice(cfg, split)
        baseline = (
            partner_scores(cfg.ensemble_with, split, device)
            if cfg.ensemble_with
            else baseline_scores(cfg.desc_encoder, infos, cfg.desc_weight)
            if cfg.desc_weight
            else None
        )
        in_training = baseline if cfg.fuse_in_training else None  # what early stopping and pseudo-labels read
        desc_choice = desc_val if choice == list(split.val) else describe(choice) if val_ex else None

        def validation_f1(fuse: OtherScores | None, sentences: list[Any] = val_ex) -> float:
            """Macro F1 over the validation relations, their ``sentences`` ranked among ``choice``'s descriptions
            by the matcher's scores, fused with ``fuse``'s when given."""
            ranked = run_scores(cfg, model, sentences, choice, desc_choice, fuse)  # type: ignore[arg-type]
            pred_val = _predict(ranked, choice, cfg.hubness)
            only = list(split.val) if cfg.val_candidates == "val+test" else None  # "val": as before
            return zero_shot_macro([e.relation_id for e in sentences], pred_val, only).f1

        def validate() -> None:
            nonlocal best
            model.eval()
            f1 = validation_f1(in_training)
            model.train()
            val_log.append({"step": steps, "val_f1": f1})
            if best is None or f1 > best[0]:
                best = (f1, steps, {k: v.detach().clone() for k, v in model.state_dict().items()})

        if train and train_ex and not cfg.trained_model:
            head_lr = cfg.head_lr or (lr if cfg.model == "sdzre" else 1e-3)
            opt = torch.optim.AdamW(param_groups(model, lr, head_lr, markers))
            rng = random.Random(cfg.seed)
            model.train()
            total = cfg.max_steps or cfg.epochs * max(1, len(train_ex) // bs)
            if cfg.model == "zrcm":  # mu_seen, which ZRCM's loss sets at every training step, from the start
                model.desc_mean.copy_(desc_train["v"].mean(0))
            if val_ex:
                validate()  # step 0: where training starts (the best checkpoint can be the untrained one)

            def epoch_batches(_: LoopState) -> list[list[Any]]:
                order = list(range(len(train_ex)))
                rng.shuffle(order)
                return [[train_ex[j] for j in b] for b in chunks(order, bs, drop_last=True)]

            def step(batch: list[Any]) -> float:
                loss, _ = (
                    model.loss(batch, desc_train) if cfg.model == "sdzre" else model.loss(batch, desc_train["v"], infos)
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
                return loss.item()

            def evaluate(s: LoopState) -> bool:
                nonlocal steps
                steps = s.step
                if val_ex:
                    validate()
                return False

            def fit(start: int, n: int, desc: str) -> int:
                budget = Budget(total_steps=start + n, epochs=2**31, eval_every=cfg.eval_every,
                                max_minutes=cfg.max_minutes)  # fmt: skip
                state = LoopState(step=start, last_eval_step=start)
                return Loop(budget, progress=cfg.progress, desc=desc).fit(state, epoch_batches, step, evaluate).step

            def keep_best() -> None:
                if val_ex:  # the loop validated the last step too
                    assert best is not None
                    model.load_state_dict(best[2])
                    log.info("best validation macro F1 %.4f at step %d of %d", best[0], best[1], steps)

            steps = fit(0, total, f"train {cfg.model}")
            keep_best()
            labelled = list(train_ex)  # without pseudo-labels; each round replaces the previous round's
            parts = [("test", list(split.test), test_ex, desc_test), ("val", list(split.val), val_ex, desc_val)]
            last: tuple[int, list[Any], PseudoLabels] | None = None  # (start step, pseudo-labels, their record)
            for _ in range(cfg.pseudo_rounds if cfg.pseudo_label else 0):
                model.eval()
                start = best[1] if best else steps
                if last is None or last[0] != start:  # the same kept checkpoint labels the pool the same way
                    last = (start, *self_training_set(cfg, model, examples, parts, start, in_training))
                _, pseudo_ex, labels = last
                if extra_pseudo is None:
                    extra_pseudo = labels
                else:
                    later_rounds.append(labels)
                train_ex[:] = labelled + pseudo_ex  # in place: the batches read this list
                model.train()
                steps = fit(steps, cfg.pseudo_steps or total, f"self-train {cfg.model}")
                keep_best()
            model.save_pretrained(out / "model")
            (out / "model" / "descriptions.json").write_text(
                json.dumps(
                    {
                        "desc_encoder": cfg.desc_encoder,
                        "descriptions": {r: relation_text(infos[r]) for r in infos},
                        "abbreviations": {r: list(abbreviations(infos[r], cfg.keywords)) for r in infos},
                        "names": {r: infos[r].name for r in infos},
                        "split": split.model_dump(),
                    },
                    ensure_ascii=False,
                ),
                encoding="utf-8",
            )
        train_s = time.perf_counter() - t0
        model.eval()
        t_inf = time.perf_counter()
        scores = run_scores(cfg, model, test_ex, list(split.test), desc_test, baseline)
        infer_s = time.perf_counter() - t_inf
        val_scores = None
        if val_ex:
            val_scores = run_scores(cfg, model, val_ex, list(split.val), desc_val, baseline)  # type: ignore[arg-type]
            val_f1 = validation_f1(baseline)
            fresh = fresh_validation(cfg, examples, list(split.val), val_ex) if cfg.choice_val_per_relation else []
            if fresh:  # none left: the figure stays unset
                choice_val_f1 = validation_f1(baseline, fresh)
    from verifier.io import write_jsonl

    test_rows = predictions(test_ex, scores, list(split.test), cfg.hubness, "test")
    pred = [p.relation for p in test_rows]  # one hubness correction and argmax for the metrics and the file
    write_jsonl(
        out / "predictions.jsonl",
        test_rows
        + (predictions(val_ex, val_scores, list(split.val), cfg.hubness, "val") if val_scores is not None else []),
    )
    extra: dict[str, Any] = (
        {"steps": steps, "validation": val_log, "best_step": best[1] if best else None} if val_log else {}
    )
    if extra_pseudo is not None:
        extra["pseudo"] = extra_pseudo
        extra["later_rounds"] = later_rounds
    if cfg.model != "desc" and model.encoder.cached_sequences:
        enc = model.encoder
        extra["lower_cache"] = LowerCacheUse(layers=enc.n_lower, hits=enc.cache_hits, misses=enc.cache_misses)
    if val_f1 is not None:
        extra["val_f1"] = val_f1
    if choice_val_f1 is not None:
        extra["choice_val_f1"] = choice_val_f1
    gold = [e.relation_id for e in test_ex]
    macro = zero_shot_macro(gold, pred)
    micro = float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])) if gold else 0.0
    from collections import Counter

    result = ZsreResult(
        predicted_label_counts=dict(Counter(pred)),
        model=cfg.model,
        data=cfg.data,
        test_data=cfg.test_data,
        m=len(split.test),
        seed=cfg.seed,
        split=split,
        train_examples=len(train_ex),
        test_examples=len(test_ex),
        macro=macro,
        micro_accuracy=micro,
        hubness=cfg.hubness,
        keywords=cfg.keywords if cfg.model == "sdzre" else None,
        **extra,
        train_s=round(train_s, 1),
        inference_sentences_per_s=round(len(test_ex) / infer_s, 1) if infer_s else None,
    )
    (out / "metrics.json").write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return result
