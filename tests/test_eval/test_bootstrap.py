"""Paired cluster bootstrap of ROC AUC."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from eval.bootstrap import ScoredSet, paired_cluster_bootstrap


def groups(n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """n groups of one positive and four negatives."""
    y = np.tile([1, 0, 0, 0, 0], n)
    cluster = [f"g{i}" for i in range(n) for _ in range(5)]
    return y, cluster


def test_a_real_difference_is_found_and_intervals_hold_the_point_estimate():
    rng = np.random.default_rng(0)
    y, cl = groups(300, 0)
    strong = ScoredSet(y=y, score=y + rng.normal(0, 0.8, len(y)), cluster=cl)
    weak = ScoredSet(y=y, score=rng.normal(0, 1, len(y)), cluster=cl)
    rep = paired_cluster_bootstrap({"strong": strong, "weak": weak}, n_boot=300, seed=1)
    s, w = rep.models["strong"], rep.models["weak"]
    assert s.lo < s.auc < s.hi and w.lo < w.auc < w.hi and rep.clusters == 300
    assert s.auc == pytest.approx(roc_auc_score(y, strong.score))
    (d,) = rep.differences
    assert (d.a, d.b) == ("strong", "weak") and d.lo > 0 and d.p < 0.01
    assert d.diff == pytest.approx(s.auc - w.auc)


def test_the_same_scores_differ_by_exactly_zero():
    rng = np.random.default_rng(2)
    y, cl = groups(50, 2)
    a = ScoredSet(y=y, score=rng.normal(size=len(y)) + y, cluster=cl)
    rep = paired_cluster_bootstrap({"a": a, "b": a}, n_boot=100, seed=3)
    (d,) = rep.differences
    assert d.diff == 0 and d.lo == 0 and d.hi == 0 and d.p == 1


def test_groups_not_rows_are_resampled():
    """Copying every row three times inside its own group leaves the intervals unchanged: the replicates draw
    groups, so the copies carry no extra information (a row bootstrap would narrow the interval)."""
    rng = np.random.default_rng(4)
    y, cl = groups(80, 4)
    s = rng.normal(size=len(y)) + y
    one = paired_cluster_bootstrap({"m": ScoredSet(y=y, score=s, cluster=cl)}, n_boot=200, seed=5).models["m"]
    three = paired_cluster_bootstrap(
        {"m": ScoredSet(y=np.repeat(y, 3), score=np.repeat(s, 3), cluster=list(np.repeat(cl, 3)))}, n_boot=200, seed=5
    ).models["m"]
    assert (three.lo, three.auc, three.hi) == pytest.approx((one.lo, one.auc, one.hi))
