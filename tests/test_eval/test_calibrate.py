"""Threshold calibration against an oracle that shares no code with it: every (tau1, tau2) pair, one at a time."""

import numpy as np
import pytest

from eval.calibrate import calibrate, parse_objective


def oracle(s_st, s_tt, y, objective, positives=None):
    """(best value, kept, tp) over every pair of observed thresholds, written from the definitions."""
    y = np.asarray(y).astype(bool)
    pos = positives or int(y.sum())
    bound = None if objective == "f1" else float(objective.split("=")[1])
    best = None
    for t1 in np.unique(s_st):
        for t2 in [-np.inf, *np.unique(s_tt[~np.isnan(s_tt)])]:
            keep = np.array([a >= t1 and (np.isnan(b) or b >= t2) for a, b in zip(s_st, s_tt, strict=True)])
            tp, kept = int((keep & y).sum()), int(keep.sum())
            p = tp / kept if kept else 0.0
            r = tp / pos
            if objective == "f1":
                v = 2 * p * r / (p + r) if p + r else 0.0
            elif objective.startswith("precision@recall"):
                v = p + 1e-6 * r if r >= bound else -2 + r
            else:
                v = r + 1e-6 * p if p >= bound and kept else -2 + p
            best = v if best is None or v > best else best
    return best


@pytest.mark.parametrize("seed", [0, 1])
def test_recall_against_gold_keeps_more_rows_than_recall_against_the_candidates(seed):
    # LLM candidates hold a fraction of the gold triples: 20 right of 200 candidates, 100 gold triples in all
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(20), np.zeros(180)].astype(int)
    p = np.clip(rng.normal(0.12 + 0.35 * y, 0.15), 0.001, 0.999)
    nan = np.full(len(y), np.nan)
    cand = calibrate(p, None, y, "f1", max_grid=None)
    gold = calibrate(p, None, y, "f1", max_grid=None, positives=100)
    assert gold.f1 == pytest.approx(oracle(p, nan, y, "f1", positives=100), abs=1e-9)
    assert gold.positives == 100 and gold.recall == pytest.approx(gold.precision * gold.kept / 100)
    assert gold.tau1 <= cand.tau1 and gold.kept >= cand.kept


def value(c, objective):
    if objective == "f1":
        return c.f1
    if objective.startswith("precision@recall"):
        return c.precision + 1e-6 * c.recall if c.recall >= float(objective.split("=")[1]) else -2 + c.recall
    ok = c.precision >= float(objective.split("=")[1]) and c.kept
    return c.recall + 1e-6 * c.precision if ok else -2 + c.precision


@pytest.mark.parametrize(
    "objective", ["f1", "precision@recall=0.5", "precision@recall=0.9", "recall@precision=0.7", "recall@precision=0.99"]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sorted_scan_equals_the_oracle(objective, seed):
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.integers(0, 2, n)
    s_st = np.round(rng.normal(y * 0.5, 0.5), 2)  # rounding creates ties
    s_tt = np.round(rng.normal(y * 0.3, 0.5), 2)
    s_tt[rng.random(n) < 0.1] = np.nan  # rows without a view
    c = calibrate(s_st, s_tt, y, objective, max_grid=None)
    assert value(c, objective) == pytest.approx(oracle(s_st, s_tt, y, objective), abs=1e-9)
    keep = (s_st >= c.tau1) & np.where(np.isnan(s_tt), True, np.nan_to_num(s_tt) >= c.tau2)
    assert keep.sum() == c.kept and (keep & (y == 1)).sum() == round(c.precision * c.kept)


def test_per_relation_thresholds_fit_each_relation_and_need_enough_rows():
    """Relation A's right rows score about 0.8, B's about 0.3: one global tau1 cannot serve both."""
    rng = np.random.default_rng(0)
    rel = np.array(["A"] * 200 + ["B"] * 200 + ["C"] * 10)
    y = rng.integers(0, 2, len(rel))
    centre = np.where(rel == "A", 0.6, np.where(rel == "B", 0.1, 0.35))
    s = centre + np.where(y == 1, 0.2, -0.2) + rng.normal(0, 0.05, len(rel))
    flat = calibrate(s, None, y, "f1")
    per = calibrate(s, None, y, "f1", relations=rel.tolist(), min_relation_rows=30)
    assert set(per.per_relation) == {"A", "B"} and per.min_relation_rows == 30  # C has 10 rows: the global tau1
    assert 0.55 < per.per_relation["A"] < 0.8 and 0.05 < per.per_relation["B"] < 0.3
    assert per.f1 > flat.f1 + 0.1 and flat.tau2 is None
    keep, _ = per.gate(s, None, rel.tolist())
    assert keep.sum() == per.kept
    few = np.r_[rel, ["D"] * 60]  # 60 rows but 3 right ones: too few to estimate a threshold of its own
    y_few = np.r_[y, [1, 1, 1] + [0] * 57]
    s_few = np.r_[s, rng.normal(0.5, 0.1, 60)]
    assert "D" not in calibrate(s_few, None, y_few, "f1", relations=few.tolist(), min_relation_rows=30).per_relation


def test_objective_parsing():
    assert parse_objective("precision@recall=0.8") == ("precision@recall", 0.8)
    assert parse_objective("recall@precision=0.6") == ("recall@precision", 0.6)
    for bad in ("recall@precision=0", "recall=0.8", "precision@recall=1.5"):
        with pytest.raises(ValueError, match="--objective"):
            parse_objective(bad)


def test_choose_c_lets_a_small_scale_informative_feature_keep_its_weight():
    from eval.calibrate import C_GRID, choose_c

    rng = np.random.default_rng(0)
    n = 600
    score = 0.1 * rng.normal(size=n)  # informative but small, like the model score beside 0/1 rule features
    rule = rng.integers(0, 2, n).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-(30 * score + 0.5 * rule - 1)))).astype(int)
    x = np.c_[score, rule]
    docs = [f"d{i // 3}" for i in range(n)]
    c = choose_c(x, y, docs)
    assert c in C_GRID and c >= 3.0  # the penalty at C = 1 would shrink the score's coefficient of ~30
