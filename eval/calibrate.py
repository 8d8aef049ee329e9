"""Threshold calibration: choose tau1 (global and per relation) and tau2 on labelled candidates, and fit the
calibrated decision (``p_correct``). The thresholds and the gate they feed are ``verifier.decision``'s contracts.

Rows are kept when ``score >= tau1`` and ``s_tt >= tau2`` (NaN ``s_tt``: no view; it passes the tau2 gate, as
``filter --missing-view pass`` does, and is not a candidate tau2). Precision is TP / kept; recall is TP /
``positives``: the labelled positives by default, or -- for LLM candidates with a gold file -- the gold triples of
the calibration documents, which is the recall ``verifier eval`` reports. The two F1s choose different cuts: an
LLM's candidates hold only a fraction of the gold triples (72 of 374 on our 1.5B test set), so F1 over the
candidates' positives believes a precise cut can reach F1 near 0.6 and keeps a row only when p > F*/2 (about
0.3), while F1 against gold tops out near 0.25 and pays for every right row dropped: keep when p > about 0.12.
Measured on the held-out calibration candidates (docs/results.md, section 0b).

Algorithm: sort the rows once by score descending. For each candidate tau2 (the distinct ``s_tt`` values, or
``max_grid`` quantiles of them when there are more), the rows passing tau2 form a mask; cumulative sums of
``mask`` and ``mask & label`` along the sorted order give TP and kept for every tau1 at once (tau1 = the score at
each position, ties resolved at the last row with that value). So the search is O(G * n) vectorised.

Objectives (``--objective``): ``f1`` (maximise F1); ``precision@recall=R`` (maximise precision subject to
recall >= R; ties by higher recall); ``recall@precision=P`` (maximise recall subject to precision >= P; ties by
higher precision). When no threshold meets the constraint, the least infeasible one is returned (highest recall,
resp. precision); the thresholds' precision and recall fields show by how much it misses.

Per-relation tau1 (``min_relation_rows``): a relation with at least that many calibration candidates, at least
``MIN_CLASS_ROWS`` of them right and as many wrong, gets its own tau1, chosen by the same objective on its rows at
the global tau2; the others keep the global tau1. The figures returned are those of the combined gate on the
calibration rows. Why a per-class minimum: a first version asked only for 30 rows with one of each class; on the
233 held-out calibration candidates it gave 主演 its own tau1 from a handful of right rows, and the filter kept 14
fewer test candidates with lower F1 (docs/results.md, section 0b) -- a threshold from a few positives is noise.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from verifier.decision import GROUNDING_FEATURES, DecisionModel, GateScore, Thresholds
from verifier.metrics import prf

MIN_CLASS_ROWS = 10
"""A relation gets its own tau1 only with at least this many right and this many wrong calibration candidates."""

Objective = tuple[str, float | None]


def parse_objective(objective: str) -> Objective:
    """'f1' | 'precision@recall=R' | 'recall@precision=P' -> (kind, bound)."""
    if objective == "f1":
        return "f1", None
    m = re.fullmatch(r"(precision@recall|recall@precision)=([0-9.]+)", objective)
    if not m or not 0 < float(m.group(2)) <= 1:
        raise ValueError(
            "--objective must be 'f1', 'precision@recall=R' or 'recall@precision=P' with R, P in (0, 1] "
            f"(got {objective!r})"
        )
    return m.group(1), float(m.group(2))


def _objective_values(tp: np.ndarray, kept: np.ndarray, pos: int, kind: str, bound: float | None) -> np.ndarray:
    """Value of every cut; a cut that breaks the constraint scores below every feasible one (-2 + its slack)."""
    prec = np.divide(tp, kept, out=np.zeros_like(tp, dtype=float), where=kept > 0)
    rec = tp / max(pos, 1)
    if kind == "f1":
        return np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(prec), where=(prec + rec) > 0)
    if kind == "precision@recall":
        return np.where(rec >= bound - 1e-12, prec + 1e-6 * rec, -2.0 + rec)
    return np.where((prec >= bound - 1e-12) & (kept > 0), rec + 1e-6 * prec, -2.0 + prec)


def _best_cut(
    score: np.ndarray,
    s_tt: np.ndarray,
    y: np.ndarray,
    kind: str,
    bound: float | None,
    max_grid: int | None,
    positives: int | None = None,
) -> tuple[float, float, float]:
    """(objective value, tau1, tau2) of the best cut; tau2 = -inf when the S_tt gate does not help."""
    order = np.argsort(-score, kind="stable")
    st_sorted, y_sorted = score[order], y[order]
    tt_sorted = np.nan_to_num(s_tt[order], nan=np.inf)  # NaN = no view: passes every tau2
    last_of_tie = np.r_[st_sorted[1:] != st_sorted[:-1], True]
    finite = np.unique(s_tt[~np.isnan(s_tt)])
    grid = (
        finite
        if max_grid is None or len(finite) <= max_grid
        else np.unique(np.quantile(finite, np.linspace(0, 1, max_grid)))
    )
    grid = np.r_[-np.inf, grid]
    pos = max(int(y.sum()), positives or 0)
    best = (-np.inf, float(st_sorted[0]), -np.inf)
    for tau2 in grid:
        mask = tt_sorted >= tau2
        value = np.where(
            last_of_tie, _objective_values(np.cumsum(mask & y_sorted), np.cumsum(mask), pos, kind, bound), -np.inf
        )
        i = int(np.argmax(value))
        if value[i] > best[0]:
            best = (float(value[i]), float(st_sorted[i]), float(tau2))
    return best


def calibrate(
    score: np.ndarray,
    s_tt: np.ndarray | None,
    labels: np.ndarray,
    objective: str = "f1",
    max_grid: int | None = 512,
    relations: Sequence[str] | None = None,
    min_relation_rows: int | None = None,
    gate_score: GateScore = "s_st",
    positives: int | None = None,
    relation_positives: dict[str, int] | None = None,
) -> Thresholds:
    """Thresholds for ``objective`` on labelled rows (``s_tt`` None: the S_tt gate is off). ``positives`` (and
    ``relation_positives`` for per-relation cuts): the recall denominator when it is not the labelled positives,
    e.g. the gold triples of the calibration documents (module docstring)."""
    kind, bound = parse_objective(objective)
    score = np.asarray(score, dtype=float)
    y = np.asarray(labels).astype(bool)
    n = len(y)
    if n == 0 or y.all() or not y.any():
        raise ValueError(
            f"calibration needs right and wrong candidates (got {int(y.sum())} right of {n}); nothing was written"
        )
    tt = np.full(n, np.nan) if s_tt is None else np.asarray(s_tt, dtype=float)
    _, tau1, tau2 = _best_cut(score, tt, y, kind, bound, max_grid, positives)
    thr = Thresholds(score=gate_score, tau1=tau1, tau2=None if s_tt is None else max(tau2, -1.0), objective=objective)
    if relations is not None and min_relation_rows:
        rel = np.asarray(list(relations), dtype=object)
        pass_tt = thr.gate(np.full(n, np.inf), tt)[0]
        per: dict[str, float] = {}
        for r in sorted(set(rel.tolist())):
            m = rel == r
            if m.sum() < min_relation_rows or min(y[m].sum(), (~y[m]).sum()) < MIN_CLASS_ROWS:
                continue
            # the relation's rows that pass tau2, scored against all of the relation's positives
            sub_score = np.where(pass_tt[m], score[m], -np.inf)
            pos_r = (relation_positives or {}).get(r)
            _, t1, _ = _best_cut(sub_score, np.full(int(m.sum()), np.nan), y[m], kind, bound, max_grid, pos_r)
            if np.isfinite(t1):
                per[r] = t1
        thr = thr.model_copy(update={"per_relation": per, "min_relation_rows": min_relation_rows})
    keep, _ = thr.gate(score, tt, relations)
    got = prf(int((keep & y).sum()), int(keep.sum()), max(int(y.sum()), positives or 0))
    return thr.model_copy(
        update={
            "precision": got.precision,
            "recall": got.recall,
            "f1": got.f1,
            "kept": got.pred,
            "n": n,
            "positives": got.gold,
        }
    )


C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
"""Inverse L2 strengths that :func:`fit_decision` chooses from by cross-validated log-loss."""


def choose_c(x: np.ndarray, y: np.ndarray, groups: Sequence[str] | None, folds: int = 5) -> float:
    """The C of :data:`C_GRID` with the best log-loss over ``folds`` document-grouped folds (scikit-learn's
    LogisticRegressionCV; rows of one document never sit on both sides). Why not a fixed C = 1: the model score
    varies little (sd 0.12 on our calibration candidates) beside 0/1 rule features, so an L2 penalty on raw
    features shrinks exactly the informative coefficient and makes p_correct under-confident. Cross-validated on
    the 1,016 held-out calibration candidates (two halves by document, 10 splits): log-loss 0.243 at C = 1 against
    0.209 at C = 10, expected calibration error 0.054 against 0.030 (docs/results.md, section 0b)."""
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    if groups is not None and len(set(groups)) >= folds:
        splits = list(GroupKFold(folds).split(x, y, np.asarray(list(groups))))
    else:
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y))
    splits = [(a, b) for a, b in splits if 0 < y[a].sum() < len(a)]  # every training fold needs both classes
    params = inspect.signature(LogisticRegressionCV).parameters  # newer releases warn without these two
    kw = {"l1_ratios": (0.0,), "use_legacy_attributes": False} if "use_legacy_attributes" in params else {}
    cv = LogisticRegressionCV(Cs=list(C_GRID), cv=splits, scoring="neg_log_loss", max_iter=5000, **kw)
    return float(np.ravel(cv.fit(x, y).C_)[0])


def fit_decision(
    x: np.ndarray,
    y: np.ndarray,
    objective: str = "f1",
    label_mode: str = "strict",
    source: str | None = None,
    c: float | None = None,
    relations: Sequence[str] | None = None,
    min_relation_rows: int | None = None,
    positives: int | None = None,
    relation_positives: dict[str, int] | None = None,
    groups: Sequence[str] | None = None,
) -> DecisionModel:
    """L2 logistic regression (scikit-learn) of the labels on the grounding features; tau1 on its probabilities
    for ``objective`` (per relation where a relation has ``min_relation_rows`` candidates; ``positives``: the
    recall denominator, as in :func:`calibrate`). ``c`` None: chosen by :func:`choose_c` (documents ``groups``)
    when each class has at least ``MIN_CLASS_ROWS`` rows, else 1.0 (too few to cross-validate)."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y).astype(int)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("the calibration candidates need both correct and wrong rows")
    if c is None:
        c = choose_c(x, y, groups) if min(y.sum(), (1 - y).sum()) >= MIN_CLASS_ROWS else 1.0
    lr = LogisticRegression(C=c, max_iter=5000).fit(x, y)
    p = lr.predict_proba(x)[:, 1]
    thr = calibrate(
        p, None, y, objective, None, relations, min_relation_rows, "p_correct", positives, relation_positives
    )
    return DecisionModel(
        features=list(GROUNDING_FEATURES),
        coef=[float(v) for v in lr.coef_[0]],
        intercept=float(lr.intercept_[0]),
        mean=[float(v) for v in x.mean(0)],
        thresholds=thr.model_copy(update={"val": source}),
        label_mode=label_mode,
        base_rate=float(y.mean()),
        fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
        c=c,
    )


__all__ = ["calibrate", "choose_c", "fit_decision", "parse_objective"]
