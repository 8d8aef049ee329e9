"""The decision as ``verifier calibrate --decision`` and the demo fit it: the calibration candidates as the filter
will see them (repaired, turned around where the verifier prefers the reverse, duplicates dropped), labelled against
gold by eval's matching, scored, and the logistic regression of ``eval.calibrate`` fitted on their grounding
features. Floor 3 with the CLI: it joins the verifier stage's scoring and eval's fitting, which do not import each
other."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from verifier.config import ConfigError, StageConfig
from verifier.decision import DecisionModel, Thresholds


def label_rows(rows: list[Any], gold: dict[str, Any], label_mode: str, lexicon: str | None) -> list[Any]:
    """``rows`` labelled against ``gold`` (doc_id -> GoldRecord) by eval's ``label_mode`` matching; a row that
    carries its own label keeps it (a row the verifier turned around carries none)."""
    from verifier.align import default_relation_classes
    from verifier.metrics import label_candidates

    lang = rows[0].lang if rows else "zh"
    labels = label_candidates(rows, gold, label_mode, default_relation_classes(lexicon, lang))
    return [r.model_copy(update={"label": y}) for r, y in zip(rows, labels, strict=True)]


def repaired_labelled_rows(
    rows: list[Any], gold: dict[str, Any] | None, label_mode: str, lexicon: str | None
) -> tuple[list[Any], list[Any]]:
    """The rows as filter scores them (extracted rows repaired) and, with ``gold`` (doc_id -> GoldRecord), labelled
    by eval's ``label_mode`` matching; with the originals that repair replaced (for the ``repaired`` feature)."""
    from verifier.filter import default_lexicons, repair_rows

    rows, originals = repair_rows(rows, default_lexicons(lexicon))
    if gold is not None:
        rows = label_rows(rows, gold, label_mode, lexicon)
    return rows, originals


MARGINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
"""Orientation margins ``--orient-margin auto`` tries (besides not turning anything around)."""


def oriented_labelled_rows(
    rows: list[Any],
    originals: list[Any],
    s_st: Any,
    rev: Any,
    margin: float,
    gold: dict[str, Any],
    label_mode: str,
    lexicon: str | None,
) -> tuple[list[Any], list[Any], Any]:
    """The repaired rows as the filter then sees them with ``--orient``: turned around where the verifier prefers
    the reverse by ``margin`` (``rev``: ``verifier.filter.score_reversed`` of these rows), duplicates dropped (the
    filter rejects them), labelled again against ``gold``; with their originals and S_st."""
    import numpy as np

    from verifier.filter import ScoredChunk, apply_orientation, duplicate_rows
    from verifier.schema import Evidence

    n = len(rows)
    s = np.asarray(s_st, dtype=float).copy()  # (N,)
    sc = ScoredChunk(list(rows), list(originals), s, np.full(n, np.nan), [Evidence()] * n)
    apply_orientation(sc, rev, margin)
    keep = ~duplicate_rows(sc.rows, sc.s_st)
    rows = label_rows([r for r, k in zip(sc.rows, keep, strict=True) if k], gold, label_mode, lexicon)
    return rows, [o for o, k in zip(sc.originals, keep, strict=True) if k], sc.s_st[keep]


def _fit(
    model: Any,
    rows: list[Any],
    originals: list[Any],
    s_st: Any,
    lexicon: str | None,
    objective: str,
    label_mode: str,
    source: str,
    min_relation_rows: int | None,
    gold: dict[str, Any] | None,
) -> Any:
    """The logistic regression and its tau on these (labelled, scored) rows."""
    import numpy as np

    from eval.calibrate import fit_decision
    from verifier.filter import decision_features, default_lexicons
    from verifier.metrics import gold_positives

    x = decision_features(rows, s_st, originals, default_lexicons(lexicon), model)
    labels = np.asarray([r.label for r in rows])
    positives, by_relation = gold_positives(rows, gold) if gold is not None else (None, None)
    return fit_decision(
        x, labels, objective, label_mode, source, relations=[r.triple.relation for r in rows],
        min_relation_rows=min_relation_rows, positives=positives, relation_positives=by_relation,
        groups=[r.doc_id for r in rows],
    )  # fmt: skip


def fit_model_decision(
    model: Any,
    rows: list[Any],
    originals: list[Any],
    lexicon: str | None,
    objective: str,
    label_mode: str,
    source: str,
    min_relation_rows: int | None = None,
    s_st: Any = None,
    gold: dict[str, Any] | None = None,
    orient_margin: float | str | None = None,
) -> Any:
    """Score labelled rows, build their grounding features and fit ``decision.json``'s model (not saved). With
    ``gold``, tau's recall counts every gold triple of the rows' documents, as ``verifier eval`` does, and an
    ``orient_margin`` turns the rows around first as ``verifier filter --orient`` will (:func:`oriented_labelled_rows`);
    ``"auto"`` fits a decision for no turning and for every margin of :data:`MARGINS` and keeps the one whose
    calibration F1 is highest (ties: the larger margin, not turning counting as the largest). The decision records the
    margin (None: not turned around) and, with ``auto``, every margin's F1."""
    from verifier.config import ConfigError
    from verifier.filter import Scorer, default_lexicons, score_reversed, score_rows

    if s_st is None:
        s_st, _ = score_rows(model, rows, view_source=None, lexicon=lexicon)
    args = (lexicon, objective, label_mode, source, min_relation_rows, gold)
    if orient_margin is None or gold is None:
        return _fit(model, rows, originals, s_st, *args).model_copy(update={"orient_margin": None})
    rev = score_reversed(Scorer(model, "", evidence=False), rows, default_lexicons(lexicon), view_source=None)
    margins = list(MARGINS) if orient_margin == "auto" else [float(orient_margin)]
    fits: dict[str, tuple[float | None, Any]] = {}
    if orient_margin == "auto":
        fits["off"] = (None, _fit(model, rows, originals, s_st, *args))
    for m in margins:
        o_rows, o_orig, o_s = oriented_labelled_rows(rows, originals, s_st, rev, m, gold, label_mode, lexicon)
        right = sum(int(r.label or 0) for r in o_rows)
        if right in (0, len(o_rows)):
            if orient_margin == "auto":
                continue
            raise ConfigError(
                f"{right} of {len(o_rows)} candidates are right after turning them around (margin {m:g}); "
                "calibration needs right and wrong ones: rerun with --no-orient or a larger --orient-margin "
                "(nothing was written)"
            )
        fits[f"{m:g}"] = (m, _fit(model, o_rows, o_orig, o_s, *args))
    f1 = {k: round(float(d.thresholds.f1), 4) for k, (_, d) in fits.items()}
    best = max(fits, key=lambda k: (f1[k], math.inf if fits[k][0] is None else fits[k][0]))
    margin, dec = fits[best]
    return dec.model_copy(update={"orient_margin": margin, "orient_f1": f1 if orient_margin == "auto" else {}})


class CalibrateConfig(StageConfig):
    """``verifier calibrate``: choose the gate beside a trained verifier on held-out labelled candidates."""

    section = "calibrate"

    model: str = ""
    """Trained verifier directory; thresholds.json (or decision.json) is written beside it."""
    val: str = ""
    """Calibration candidates: labelled (label 0/1), or unlabelled with --gold."""
    gold: str | None = None
    """Gold records that label --val (by --label-mode matching); tau's recall then counts every gold triple."""
    label_mode: Literal["strict", "soft"] = "strict"
    """Matching that labels --val against --gold."""
    decision: bool = False
    """Fit the calibrated decision (p_correct from grounding features, logistic regression) on repaired candidates
    and write decision.json beside the model, instead of the paper's thresholds.json."""
    objective: str = "f1"
    """What the threshold maximises: f1, precision@recall=R or recall@precision=P."""
    min_relation_rows: int = Field(30, ge=0)
    """A relation with at least this many calibration candidates (right and wrong ones) gets its own tau1; 0 = one
    global tau1."""
    orient: bool = True
    """With --decision and --gold: turn the candidates around where the verifier prefers the reversed triple, as
    `verifier filter` then does, and record it in decision.json."""
    orient_margin: str = "auto"
    """S_st the reversed triple must win by; auto: the margin (or none) whose decision reaches the highest F1 on
    the calibration candidates."""
    view_source: Literal["auto", "group", "lexicon"] = "auto"
    """Where the paraphrased view for S_tt comes from (thresholds.json only; the decision reads no S_tt)."""
    lexicon: str | None = None
    """Dataset whose lexicon repairs candidates and builds views (default: duie for Chinese rows, none otherwise)."""
    device: str | None = None
    """Torch device for scoring (default: CUDA when available)."""

    @field_validator("objective")
    @classmethod
    def _objective(cls, v: str) -> str:
        from eval.calibrate import parse_objective

        parse_objective(v)  # a flag is checked before any file is read
        return v

    @field_validator("orient_margin")
    @classmethod
    def _margin(cls, v: str) -> str:
        if v != "auto":
            try:
                ok = float(v) >= 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"{v!r}: give 'auto' or a number >= 0")
        return v

    def margin(self) -> float | str | None:
        """The orientation margin the fit uses: None with --no-orient, ``"auto"`` or a number."""
        if not self.orient:
            return None
        return "auto" if self.orient_margin == "auto" else float(self.orient_margin)


class CalibrateResult(BaseModel):
    """What ``verifier calibrate`` wrote: the decision or the paper's thresholds, and where."""

    model_config = ConfigDict(extra="forbid")

    path: str
    decision: DecisionModel | None = None
    thresholds: Thresholds | None = None


def run_calibrate(cfg: CalibrateConfig) -> CalibrateResult:
    """Label (with --gold), repair and score the calibration candidates; fit ``decision.json`` (``--decision``) or
    choose the paper gate's ``thresholds.json`` (``eval.calibrate.calibrate``); save it beside the model."""
    import numpy as np

    from eval.calibrate import calibrate
    from verifier.filter import load_for_inference, score_rows
    from verifier.io import read_jsonl
    from verifier.metrics import gold_positives
    from verifier.schema import Candidate, GoldRecord

    for flag, value in (("--model", cfg.model), ("--val", cfg.val)):
        if not value:
            raise ConfigError(f"{flag} is required")
    gold = {g.doc_id: g for g in read_jsonl(cfg.gold, GoldRecord)} if cfg.gold else None
    rows, originals = repaired_labelled_rows(list(read_jsonl(cfg.val, Candidate)), gold, cfg.label_mode, cfg.lexicon)
    missing = [i for i, r in enumerate(rows) if r.label is None]
    if missing:
        raise ConfigError(
            f"{cfg.val}: {len(missing)} rows have no label (first at row {missing[0] + 1}); label them or pass --gold"
        )
    n_right = sum(int(r.label) for r in rows)
    if n_right in (0, len(rows)):
        raise ConfigError(
            f"{cfg.val}: {n_right} of {len(rows)} candidates are right; calibration needs right and wrong ones "
            "(nothing was written)"
        )
    model = load_for_inference(cfg.model, cfg.device)
    # the decision does not read S_tt, so its views are not scored
    s_st, s_tt = score_rows(model, rows, view_source=None if cfg.decision else cfg.view_source, lexicon=cfg.lexicon)
    if cfg.decision:
        dec = fit_model_decision(
            model, rows, originals, cfg.lexicon, cfg.objective, cfg.label_mode, cfg.val,
            cfg.min_relation_rows, s_st, gold, cfg.margin(),
        )  # fmt: skip
        return CalibrateResult(path=str(dec.save(cfg.model)), decision=dec)
    positives, by_relation = gold_positives(rows, gold) if gold is not None else (None, None)
    choice = calibrate(
        s_st, s_tt, np.asarray([r.label for r in rows]), cfg.objective, relations=[r.triple.relation for r in rows],
        min_relation_rows=cfg.min_relation_rows, positives=positives, relation_positives=by_relation,
    )  # fmt: skip
    choice = choice.model_copy(update={"model": cfg.model, "val": cfg.val, "view_source": cfg.view_source})
    return CalibrateResult(path=str(choice.save(cfg.model)), thresholds=choice)
