"""experiments.zsre_paired: pooled folders pair as one set, untrained runs are left out, gaps are errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from experiments import zsre_paired


def _run(folder: Path, name: str, model: str, val: float | None, test: float) -> None:
    d = folder / name
    d.mkdir(parents=True)
    r = {"model": model, "val_f1": val, "choice_val_f1": val, "macro": {"f1": test}, "validation": []}
    (d / "metrics.json").write_text(json.dumps(r), encoding="utf-8")


def test_comma_joined_folders_pool_their_runs_and_desc_runs_are_left_out(tmp_path: Path) -> None:
    _run(tmp_path / "a", "sdzre-no_contrastive-m10-s40-f0", "sdzre", 0.80, 0.70)
    _run(tmp_path / "a", "desc-m10-s40", "desc", None, 0.60)
    _run(tmp_path / "b", "sdzre-no_contrastive-m10-s45-f0", "sdzre", 0.90, 0.75)
    runs = zsre_paired.best_val_and_test(f"{tmp_path / 'a'},{tmp_path / 'b'}", "choice_val_f1")
    assert runs == {"s40-f0": (0.80, 0.70), "s45-f0": (0.90, 0.75)}


def test_a_run_found_in_two_pooled_folders_is_an_error(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        _run(tmp_path / sub, "sdzre-no_contrastive-m10-s40-f0", "sdzre", 0.8, 0.7)
    with pytest.raises(SystemExit, match="s40-f0 is also in an earlier folder"):
        zsre_paired.best_val_and_test(f"{tmp_path / 'a'},{tmp_path / 'b'}")


def test_paired_change_and_its_standard_error_over_pooled_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    changes = {"s40-f0": 0.01, "s40-f1": 0.03, "s45-f0": 0.02, "s45-f1": 0.04}
    for run, dv in changes.items():
        batch = "1" if run.startswith("s40") else "2"
        _run(tmp_path / f"ref{batch}", f"sdzre-m10-{run}", "sdzre", 0.5, 0.6)
        _run(tmp_path / f"var{batch}", f"sdzre-m10-{run}", "sdzre", 0.5 + dv, 0.6)
    ref, var = f"{tmp_path / 'ref1'},{tmp_path / 'ref2'}", f"{tmp_path / 'var1'},{tmp_path / 'var2'}"
    monkeypatch.setattr(sys, "argv", ["zsre_paired", "--val-only", "--figure", "choice_val_f1", ref, var])
    zsre_paired.main()
    out = capsys.readouterr().out
    # mean +0.025, sample sd 0.0129, SE 0.00645: 3.87 SE
    assert "4 pairs" in out and "change +0.0250 (standard error 0.0065, +3.87 SE)" in out

    _run(tmp_path / "var2", "sdzre-m10-s46-f0", "sdzre", 0.5, 0.6)
    with pytest.raises(SystemExit, match="s46-f0 have no reference run"):
        zsre_paired.main()


def test_a_rules_bar_adopts_only_a_large_enough_change_over_the_pairs_it_needs() -> None:
    assert zsre_paired.decision([0.01, 0.03, 0.02, 0.04], 0.010, 2).startswith("adopted True (pairs 4, mean +0.0250")
    assert zsre_paired.decision([0.01, 0.03, 0.02, 0.04], 0.010, 4).startswith("adopted False")  # 3.87 SE < 4
    assert zsre_paired.decision([0.001, 0.003, 0.002, 0.004], 0.010, 2).startswith("adopted False")  # below MIN
    assert zsre_paired.decision([-0.01, -0.02, -0.015], 0.010, 2).startswith("adopted False")
    with pytest.raises(SystemExit, match="needs 20 pairs, and 4 are here"):
        zsre_paired.decision([0.01, 0.03, 0.02, 0.04], 0.010, 2, pairs=20)
