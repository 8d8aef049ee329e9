"""Threshold calibration: choose (tau1, tau2) on labelled candidates with a sorted scan.

Rows are kept when ``s_st >= tau1`` and ``s_tt >= tau2`` (NaN or +inf ``s_tt``: no view; it passes the tau2
gate, as ``filter --missing-view pass`` does, and is not a candidate tau2). Precision is TP / kept; recall is
TP / labelled positives.

Algorithm: sort the rows once by ``s_st`` descending. For each candidate tau2 (the distinct ``s_tt`` values,
or ``max_grid`` quantiles of them when there are more), the rows passing tau2 form a mask; cumulative sums of
``mask`` and ``mask & label`` along the sorted order give TP and kept for every tau1 at once (tau1 = the s_st
value at each position, ties resolved at the last row with that value). So the search is O(G * n) vectorised
instead of a double loop over every pair of values with a full pass each (O(n^3)).

Objectives: ``f1`` (maximise F1), ``precision@recall=R`` (maximise precision subject to recall >= R; ties by
higher recall).
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import BaseModel, ConfigDict


class ThresholdChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tau1: float
    tau2: float
    objective: str
    precision: float
    recall: float
    f1: float
    kept: int
    n: int
    positives: int


def parse_objective(objective: str) -> tuple[str, float | None]:
    if objective == "f1":
        return "f1", None
    m = re.fullmatch(r"precision@recall=([0-9.]+)", objective)
    if not m or not 0 < float(m.group(1)) <= 1:
        raise ValueError(f"--objective must be 'f1' or 'precision@recall=R' with R in (0, 1] (got {objective!r})")
    return "precision@recall", float(m.group(1))


def _score(tp: np.ndarray, kept: np.ndarray, pos: int, kind: str, r_min: float | None) -> np.ndarray:
    prec = np.divide(tp, kept, out=np.zeros_like(tp, dtype=float), where=kept > 0)
    rec = tp / max(pos, 1)
    if kind == "f1":
        return np.divide(2 * prec * rec, prec + rec, out=np.zeros_like(prec), where=(prec + rec) > 0)
    # lexicographic: precision, then recall; infeasible points get -1
    return np.where(rec >= r_min - 1e-12, prec + 1e-6 * rec, -1.0)


def calibrate(
    s_st: np.ndarray, s_tt: np.ndarray, labels: np.ndarray, objective: str = "f1", max_grid: int | None = 512
) -> ThresholdChoice:
    kind, r_min = parse_objective(objective)
    s_st = np.asarray(s_st, dtype=float)
    s_tt = np.asarray(s_tt, dtype=float)
    y = np.asarray(labels).astype(bool)
    n, pos = len(y), int(y.sum())
    if n == 0:
        raise ValueError("no labelled candidates to calibrate on")
    order = np.argsort(-s_st, kind="stable")
    st_sorted, y_sorted = s_st[order], y[order]
    tt_sorted = np.nan_to_num(s_tt[order], nan=np.inf)
    # a tau1 cut can only fall after the last of equal s_st values
    last_of_tie = np.r_[st_sorted[1:] != st_sorted[:-1], True]
    finite = np.unique(s_tt[np.isfinite(s_tt)])  # +inf (a caller's "no view") passes every tau2, as NaN does
    grid = (
        finite
        if max_grid is None or len(finite) <= max_grid
        else np.unique(np.quantile(finite, np.linspace(0, 1, max_grid)))
    )
    grid = np.r_[-np.inf, grid] if len(grid) == 0 or grid[0] > -1.0 else grid
    best = (-np.inf, 0.0, 0.0, 0, 0)
    for tau2 in grid:
        mask = tt_sorted >= tau2
        kept = np.cumsum(mask)
        tp = np.cumsum(mask & y_sorted)
        score = np.where(last_of_tie, _score(tp, kept, pos, kind, r_min), -np.inf)
        i = int(np.argmax(score))
        if score[i] > best[0]:
            best = (float(score[i]), float(st_sorted[i]), float(tau2), int(kept[i]), int(tp[i]))
    _, tau1, tau2, kept_n, tp_n = best
    prec = tp_n / kept_n if kept_n else 0.0
    rec = tp_n / pos if pos else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return ThresholdChoice(
        tau1=tau1,
        tau2=max(tau2, -1.0),
        objective=objective,
        precision=prec,
        recall=rec,
        f1=f1,
        kept=kept_n,
        n=n,
        positives=pos,
    )


def brute_force(s_st: np.ndarray, s_tt: np.ndarray, labels: np.ndarray, objective: str = "f1") -> float:
    """Best objective value over every (tau1, tau2) pair of observed values (for tests)."""
    kind, r_min = parse_objective(objective)
    y = np.asarray(labels).astype(bool)
    tt = np.nan_to_num(np.asarray(s_tt, dtype=float), nan=np.inf)
    best = -np.inf
    for t1 in np.unique(s_st):
        for t2 in np.r_[-np.inf, np.unique(tt[np.isfinite(tt)])]:
            keep = (s_st >= t1) & (tt >= t2)
            v = _score(np.array([int((keep & y).sum())]), np.array([int(keep.sum())]), int(y.sum()), kind, r_min)[0]
            best = max(best, float(v))
    return best
