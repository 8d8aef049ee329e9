"""The keep/reject decision and its files: the one owner of ``thresholds.json``, ``decision.json`` and ``gate()``.

Two gates, one rule (CACRE section 2.4, read as "keep when the text supports the triple and the triple is
self-consistent"): a row is kept when its score >= tau1 (the relation's own tau1 where one was calibrated) and its
triple-triple consistency S_tt >= tau2. NaN S_tt is the only "no view" marker; such a row passes or fails the tau2
gate per ``missing_view``. tau2 ``None`` switches the S_tt gate off.

- ``Thresholds(score="s_st")`` in ``thresholds.json``: the paper's gate on the raw similarities
  (``verifier filter --gate paper``).
- ``DecisionModel`` in ``decision.json``: ``p_correct``, a logistic regression over grounding features
  (``GROUNDING_FEATURES``), with ``Thresholds(score="p_correct")`` inside it (the default gate).

Grounding features of a (repaired) candidate, in ``GROUNDING_FEATURES`` order:
- ``model_score``: the verifier's S_st, as a logit when it is a probability (BCE, pointwise head), else the cosine;
- ``in_schema``: the relation is a schema relation (after canonicalisation);
- ``head_in_text`` / ``tail_in_text``: the mention occurs verbatim in the text;
- ``head_in_text_norm`` / ``tail_in_text_norm``: it occurs after case folding and removing spaces, punctuation and
  title marks (``《》``) on both sides;
- ``type_match``: the extractor's head/tail types equal the schema's subject/object types of the relation (1),
  differ (0), or cannot be judged: no types, or a relation outside the schema (0.5);
- ``log_distance``: log(1 + characters between the nearest head and tail mentions); log(1 + len(text)) when one is
  missing;
- ``repaired``: canonicalisation changed the triple.

S_tt is not a feature: on every model measured it ranks real candidates at chance (docs/results.md), so the
fitted decision's tau2 is off unless a caller sets one. Fitting and the threshold search live in
``eval.calibrate`` (a stage); this module only holds the contracts and applies them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from verifier.schema import RejectReason

GROUNDING_FEATURES = (
    "model_score",
    "in_schema",
    "head_in_text",
    "tail_in_text",
    "head_in_text_norm",
    "tail_in_text_norm",
    "type_match",
    "log_distance",
    "repaired",
)
MissingView = Literal["pass", "reject"]
GateScore = Literal["s_st", "p_correct"]
_STRIP = re.compile(r"[\s\u3000《》〈〉「」『』“”\"'‘’()（）\[\]【】,，.。、:：;；!！?？·\-—_]+")


F = TypeVar("F", bound="_FileBesideModel")


class _FileBesideModel(BaseModel):
    """A contract saved as one JSON file in a model folder (``file_name``), validated on load."""

    file_name: ClassVar[str]

    def save(self, model_dir: str | os.PathLike[str]) -> Path:
        from verifier.io import write_json

        path = Path(model_dir) / self.file_name
        write_json(path, self.model_dump())
        return path

    @classmethod
    def load(cls: type[F], model_dir: str | os.PathLike[str]) -> F | None:
        """None when the folder has no such file; a located error when the file is invalid."""
        path = Path(model_dir) / cls.file_name
        if not path.exists():
            return None
        from verifier.io import parse_record, read_json

        return parse_record(cls, read_json(path), path, 0)


class Thresholds(_FileBesideModel):
    """tau1 (global and per relation), tau2, and how they were chosen. ``thresholds.json`` when ``score`` is
    S_st; the ``thresholds`` field of ``decision.json`` when it is ``p_correct``."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    file_name: ClassVar[str] = "thresholds.json"

    score: GateScore = "s_st"
    """What tau1 applies to: the raw text-triple similarity or the calibrated probability."""
    tau1: float
    tau2: float | None = None
    """S_tt gate; None = off."""
    per_relation: dict[str, float] = Field(default_factory=dict)
    """tau1 of relations that had at least ``min_relation_rows`` calibration candidates; the rest use tau1."""
    min_relation_rows: int | None = None
    missing_view: MissingView = "pass"
    objective: str = "f1"
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    kept: int | None = None
    n: int | None = None
    positives: int | None = None
    model: str | None = None
    val: str | None = None
    view_source: str | None = None

    @model_validator(mode="after")
    def _in_range(self) -> Thresholds:
        lo = 0.0 if self.score == "p_correct" else -1.0  # tau1 bounds; tau2 is always a cosine in [-1, 1]
        checks = [("tau1", self.tau1, lo), *((r, v, lo) for r, v in self.per_relation.items())]
        if self.tau2 is not None:
            checks.append(("tau2", self.tau2, -1.0))
        for name, v, low in checks:
            if not low <= v <= 1.0:
                raise ValueError(f"{name} = {v} is outside [{low:g}, 1] for a gate on {self.score}")
        return self

    def tau1_for(self, relations: Sequence[str] | None, n: int) -> np.ndarray:
        """(n,) tau1 of each row: its relation's own where calibrated, else the global one."""
        if not self.per_relation or relations is None:
            return np.full(n, self.tau1)
        return np.asarray([self.per_relation.get(r, self.tau1) for r in relations], dtype=float)

    def gate(
        self, score: np.ndarray, s_tt: np.ndarray | None = None, relations: Sequence[str] | None = None
    ) -> tuple[np.ndarray, list[RejectReason | None]]:
        """Keep where score >= tau1 (per relation) and S_tt >= tau2 (NaN S_tt: per ``missing_view``).

        score, s_tt: (N,) -> keep (N,) bool and the reason of each rejection (None for kept rows)."""
        score = np.asarray(score, dtype=float)
        ok1 = score >= self.tau1_for(relations, len(score))
        if self.tau2 is None or s_tt is None:
            ok2 = np.ones(len(score), dtype=bool)
        else:
            tt = np.asarray(s_tt, dtype=float)
            ok2 = np.where(np.isnan(tt), self.missing_view == "pass", np.nan_to_num(tt, nan=-np.inf) >= self.tau2)
        keep = ok1 & ok2
        reasons: list[RejectReason | None] = []
        for a, b in zip(ok1.tolist(), ok2.tolist(), strict=True):
            reasons.append(None if a and b else "both" if not a and not b else "below_tau1" if not a else "below_tau2")
        return keep, reasons

    def override(self, tau1: float | None = None, tau2: float | None = None, missing_view: MissingView | None = None):
        """A user's explicit --tau1 replaces every tau1 (global and per relation); --tau2 sets the S_tt gate."""
        upd: dict[str, object] = {}
        if tau1 is not None:
            upd.update(tau1=float(tau1), per_relation={})
        if tau2 is not None:
            upd["tau2"] = float(tau2)
        if missing_view is not None:
            upd["missing_view"] = missing_view
        return self.model_copy(update=upd)


class DecisionModel(_FileBesideModel):
    """The calibrated decision: coefficients, thresholds on ``p_correct`` and where they came from."""

    model_config = ConfigDict(extra="forbid")
    file_name: ClassVar[str] = "decision.json"

    features: list[str]
    coef: list[float]
    intercept: float
    mean: list[float]
    """Feature means on the calibration candidates (the reference point of explanations)."""
    thresholds: Thresholds
    """Gate on p_correct (``score == "p_correct"``)."""
    label_mode: str
    base_rate: float
    """Share of correct candidates in the calibration set."""
    fitted_at: str
    source: str | None = None
    """The labelled candidates it was fitted on."""
    orient_margin: float | None = None
    """Fitted on candidates turned around by the verifier with this margin (``verifier.orient``); the filter does
    the same by default. None: fitted on the extractor's directions."""
    orient_f1: dict[str, float] = Field(default_factory=dict)
    """With ``calibrate --orient-margin auto``: the calibration F1 of the decision fitted for each margin tried
    (``off``: not turned around), the best of which was kept."""
    c: float | None = None
    """Inverse L2 strength of the logistic regression (chosen by cross-validated log-loss when fitted with enough
    candidates; None in files written before it was recorded)."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ np.asarray(self.coef) + self.intercept  # (N,)

    def p_correct(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))

    def explain(self, x: np.ndarray, k: int = 2) -> list[list[str]]:
        """Per row, the ``k`` features whose deviation from the calibration mean moved the logit most."""
        contrib = (x - np.asarray(self.mean)) * np.asarray(self.coef)  # (N, F)
        order = np.argsort(-np.abs(contrib), axis=1)[:, :k]
        return [[f"{self.features[j]} {contrib[i, j]:+.2f}" for j in row] for i, row in enumerate(order)]

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> DecisionModel | None:
        dec = super().load(model_dir)
        if dec is None:
            return None
        from verifier.io import InputError

        path = decision_path(model_dir)
        if len(dec.coef) != len(dec.features) or len(dec.mean) != len(dec.features):
            raise InputError(path, 0, "coef", f"coef and mean need one value per feature ({len(dec.features)})")
        if dec.features != list(GROUNDING_FEATURES):
            raise InputError(
                path, 0, "features", f"{dec.features} are not this version's; rerun `verifier calibrate --decision`"
            )
        return dec


def forget_gates(model_dir: str | os.PathLike[str]) -> list[Path]:
    """Remove ``thresholds.json`` and ``decision.json`` of ``model_dir``: they were calibrated for weights that are
    being replaced (a retrain into the same folder must not inherit them). Returns the files removed."""
    gone = []
    for p in (thresholds_path(model_dir), decision_path(model_dir)):
        if p.exists():
            p.unlink()
            gone.append(p)
    return gone


def thresholds_path(model_dir: str | os.PathLike[str]) -> Path:
    return Path(model_dir) / Thresholds.file_name


def decision_path(model_dir: str | os.PathLike[str]) -> Path:
    return Path(model_dir) / DecisionModel.file_name


def normalise_mention(s: str) -> str:
    """Case-folded, without spaces, punctuation or title marks (the ``*_in_text_norm`` features)."""
    return _STRIP.sub("", s).casefold()


def _type_match(relation: str, head_type: str | None, tail_type: str | None, types: dict[str, tuple]) -> float:
    """1 when both extractor types equal the schema's, 0 when one differs, 0.5 when it cannot be judged."""
    entry = types.get(relation)
    if entry is None or (not head_type and not tail_type):
        return 0.5
    subj, objs = entry
    verdicts = []
    if head_type and subj:
        verdicts.append(head_type == subj)
    if tail_type and objs:
        verdicts.append(tail_type in objs)
    return 0.5 if not verdicts else float(all(verdicts))


def _log_distance(text: str, head: str, tail: str) -> float:
    """log(1 + characters between the nearest head and tail mentions); log(1 + len(text)) when one is missing."""
    hs = [m.start() for m in re.finditer(re.escape(head), text)] if head else []
    ts = [m.start() for m in re.finditer(re.escape(tail), text)] if tail else []
    if not hs or not ts:
        return math.log1p(len(text))
    gap = min(max(0, t - (h + len(head))) if t >= h else max(0, h - (t + len(tail))) for h in hs for t in ts)
    return math.log1p(gap)


def grounding_features(
    texts: list[str],
    heads: list[str],
    tails: list[str],
    relations: list[str],
    s_st: np.ndarray,
    schema: dict[str, tuple[str | None, frozenset[str]]] | None,
    repaired: list[bool],
    probability: bool,
    head_types: list[str | None] | None = None,
    tail_types: list[str | None] | None = None,
) -> np.ndarray:
    """(N, len(GROUNDING_FEATURES)) feature matrix. ``schema``: relation -> (subject type, object types); None
    counts every relation as inside and types as unjudgeable."""
    n = len(texts)
    s = np.asarray(s_st, dtype=float)
    if probability:
        p = np.clip(s, 1e-6, 1 - 1e-6)
        s = np.log(p / (1 - p))
    types = schema or {}
    head_types = head_types or [None] * n
    tail_types = tail_types or [None] * n
    norm_texts = [normalise_mention(t) for t in texts]
    rows = []
    for i in range(n):
        t, h, x, r = texts[i], heads[i], tails[i], relations[i]
        nh, nx = normalise_mention(h), normalise_mention(x)
        rows.append(
            [
                s[i],
                schema is None or r in schema,
                h in t,
                x in t,
                bool(nh) and nh in norm_texts[i],
                bool(nx) and nx in norm_texts[i],
                _type_match(r, head_types[i], tail_types[i], types),
                _log_distance(t, h, x),
                repaired[i],
            ]
        )
    return np.asarray(rows, dtype=float).reshape(n, len(GROUNDING_FEATURES))


__all__ = [
    "GROUNDING_FEATURES",
    "DecisionModel",
    "MissingView",
    "Thresholds",
    "decision_path",
    "forget_gates",
    "grounding_features",
    "normalise_mention",
    "thresholds_path",
]
