import numpy as np
import pytest

from eval.calibrate import brute_force, calibrate, parse_objective


def objective_value(c, objective):
    if objective == "f1":
        return c.f1
    return c.precision + 1e-6 * c.recall


@pytest.mark.parametrize("objective", ["f1", "precision@recall=0.5", "precision@recall=0.9"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sorted_scan_equals_brute_force(objective, seed):
    rng = np.random.default_rng(seed)
    n = 60
    y = rng.integers(0, 2, n)
    s_st = np.round(rng.normal(y * 0.5, 0.5), 2)  # rounding creates ties
    s_tt = np.round(rng.normal(y * 0.3, 0.5), 2)
    s_tt[rng.random(n) < 0.1] = np.nan  # rows without a view
    c = calibrate(s_st, s_tt, y, objective, max_grid=None)
    assert objective_value(c, objective) == pytest.approx(brute_force(s_st, s_tt, y, objective), abs=1e-9)
    keep = (s_st >= c.tau1) & np.where(np.isnan(s_tt), True, np.nan_to_num(s_tt) >= c.tau2)
    assert keep.sum() == c.kept and (keep & (y == 1)).sum() == round(c.precision * c.kept)


def test_infinite_no_view_scores_match_nan_and_stay_out_of_the_grid():
    """+inf and NaN both mean "no view": same choice, and no NaN threshold from quantiles of infinities."""
    rng = np.random.default_rng(3)
    n = 2000
    y = rng.integers(0, 2, n)
    s_st = rng.normal(y * 0.5, 0.5)
    s_tt = rng.normal(y * 0.3, 0.5)
    no_view = rng.random(n) < 0.4
    with_nan = np.where(no_view, np.nan, s_tt)
    with_inf = np.where(no_view, np.inf, s_tt)
    a = calibrate(s_st, with_nan, y, "f1", max_grid=64)
    with np.errstate(invalid="raise"):
        b = calibrate(s_st, with_inf, y, "f1", max_grid=64)
    assert np.isfinite(b.tau2)
    assert (a.tau1, a.tau2, a.kept) == (b.tau1, b.tau2, b.kept)


def test_objective_parsing():
    assert parse_objective("precision@recall=0.8") == ("precision@recall", 0.8)
    with pytest.raises(ValueError):
        parse_objective("recall@precision=0.8")
