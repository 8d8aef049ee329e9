"""Confidence intervals for ROC AUC: a paired cluster (group) bootstrap.

The triples of one ``perturb.v1`` group share their sentence and their gold triple, so they are not
independent draws; resampling single triples would understate the spread. Each bootstrap replicate draws the
groups (clusters) with replacement, ``n`` draws from ``n`` groups, and weights every triple by how often its
group was drawn (``sklearn.metrics.roc_auc_score`` with ``sample_weight``). Every model is scored on the same
replicates, so the difference of two models' AUCs gets its own interval (paired bootstrap). Intervals are
percentile intervals; the two-sided p-value of a difference is twice the share of replicates on the far side
of zero (capped at 1). See Efron & Tibshirani (1993), ch. 13 and 16.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import roc_auc_score


class ScoredSet(BaseModel):
    """One model's scores on one test set: labels, scores and each row's cluster (group id)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    y: np.ndarray  # (N,) 0/1
    score: np.ndarray  # (N,)
    cluster: Sequence[str]  # (N,) group id of each row


class AucInterval(BaseModel):
    auc: float
    lo: float
    hi: float


class AucDifference(BaseModel):
    a: str
    b: str
    diff: float
    """AUC(a) - AUC(b) on the full set."""
    lo: float
    hi: float
    p: float


class BootstrapReport(BaseModel):
    n_boot: int
    level: float
    clusters: int
    models: dict[str, AucInterval]
    differences: list[AucDifference]


def _weighted_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> float:
    keep = w > 0
    yk = y[keep]
    if yk.min() == yk.max():
        return float("nan")
    return float(roc_auc_score(yk, s[keep], sample_weight=w[keep]))


def paired_cluster_bootstrap(
    sets: Mapping[str, ScoredSet], n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> BootstrapReport:
    """Percentile intervals of each model's AUC and of every pairwise difference, from ``n_boot`` replicates
    that resample the union of the clusters (the same replicate weights for every model)."""
    vocab = sorted({c for s in sets.values() for c in s.cluster})
    index = {c: i for i, c in enumerate(vocab)}
    codes = {
        k: np.fromiter((index[c] for c in s.cluster), dtype=np.int64, count=len(s.cluster)) for k, s in sets.items()
    }
    arrays = {k: (np.asarray(s.y), np.asarray(s.score)) for k, s in sets.items()}
    rng = np.random.default_rng(seed)
    n_c = len(vocab)
    uniform = np.full(n_c, 1.0 / n_c)
    reps = {k: np.empty(n_boot) for k in sets}
    for b in range(n_boot):
        w_c = rng.multinomial(n_c, uniform).astype(np.float64)  # (C,) draws per cluster
        for k, (y, s) in arrays.items():
            reps[k][b] = _weighted_auc(y, s, w_c[codes[k]])
    alpha = (1.0 - level) / 2.0
    full = {k: float(roc_auc_score(y, s)) for k, (y, s) in arrays.items()}

    def interval(x: np.ndarray) -> tuple[float, float]:
        lo, hi = np.nanquantile(x, [alpha, 1.0 - alpha])
        return float(lo), float(hi)

    models = {k: AucInterval(auc=full[k], **dict(zip(("lo", "hi"), interval(reps[k]), strict=True))) for k in sets}
    diffs = []
    for a, b in combinations(sets, 2):
        d = reps[a] - reps[b]
        d = d[np.isfinite(d)]
        lo, hi = interval(d)
        p = min(1.0, 2.0 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))
        diffs.append(AucDifference(a=a, b=b, diff=full[a] - full[b], lo=lo, hi=hi, p=p))
    return BootstrapReport(n_boot=n_boot, level=level, clusters=n_c, models=models, differences=diffs)
