"""experiments.matcher_gate: fold folders are found, the margin gates work without a verifier, summaries report
their worst run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import matcher_gate
from generation.matching.zsre import Prediction
from verifier.io import InputError


def _pred(part: str, right: bool, margin: float, i: int) -> Prediction:
    return Prediction(
        part=part,  # type: ignore[arg-type]
        doc_id=f"d{i}",
        text="Alice met Bob .",
        head="Alice",
        tail="Bob",
        head_span=(0, 5),
        tail_span=(10, 13),
        gold="P1",
        relation="P1" if right else "P2",
        score=1.0,
        margin=margin,
    )


def _write(folder: Path, preds: list[Prediction]) -> None:
    folder.mkdir(parents=True)
    text = "\n".join(p.model_dump_json() for p in preds) + "\n"
    (folder / "predictions.jsonl").write_text(text, encoding="utf-8")


def test_run_folders_finds_the_folds_and_skips_folders_without_predictions(tmp_path: Path) -> None:
    for run in ("sdzre-m5-s40-f0", "sdzre-m5-s40-f1", "sdzre-m5-s41-f0"):
        _write(tmp_path / run, [_pred("test", True, 1.0, 0)])
    (tmp_path / "sdzre-m5-s40").mkdir()  # no predictions.jsonl
    found = matcher_gate.run_folders(tmp_path, "sdzre", 5, 40)
    assert [d.name for d in found] == ["sdzre-m5-s40-f0", "sdzre-m5-s40-f1"]
    with pytest.raises(InputError, match="--runs-from: no sdzre-m5-s42"):
        matcher_gate.run_folders(tmp_path, "sdzre", 5, 42)


def test_a_bad_predictions_line_is_a_located_error_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "runs" / "sdzre-m5-s40-f0", [_pred("val", True, 1.0, 0)])
    with open(tmp_path / "runs" / "sdzre-m5-s40-f0" / "predictions.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"part": "test", "doc_id": "d1"}\n')
    argv = ["matcher_gate", "--verifier", "none", "--runs-from", str(tmp_path / "runs"), "--matchers", "sdzre"]
    argv += ["--ms", "5", "--seeds", "40", "--out", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as e:
        matcher_gate.main()
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "predictions.jsonl:2:" in err and len(err.splitlines()) == 1


def test_margin_gates_without_a_verifier_keep_the_validation_share_and_raise_precision() -> None:
    # validation: right candidates have margins 1..10, wrong ones 0.1..0.5; test: the same shape, other scale
    val = [_pred("val", True, float(m), i) for i, m in enumerate(range(1, 11))]
    val += [_pred("val", False, 0.1 * k, 100 + k) for k in range(1, 6)]
    test = [_pred("test", True, 2.0 * m, 200 + m) for m in range(1, 11)]
    test += [_pred("test", False, 0.2 * k, 300 + k) for k in range(1, 11)]
    row = matcher_gate.gate_row(val + test, None, {}, keep_true=0.8)
    assert set(row) >= {"margin", "margin_norm"} and "verifier" not in row and "both" not in row
    assert row["precision_before"] == pytest.approx(0.5)
    # the raw margin's threshold comes from the validation scale (3.0), the normalised one carries across scales
    assert row["margin"]["threshold"] == pytest.approx(3.0)
    assert row["margin_norm"]["precision_after"] == pytest.approx(1.0)
    assert row["margin_norm"]["true_kept"] == pytest.approx(0.8)


def test_summary_reports_means_and_the_worst_run() -> None:
    def run(before: float, after: float, kept: float) -> dict[str, object]:
        return {"precision_before": before, "margin_norm": {"precision_after": after, "true_kept": kept, "auc": 0.8}}

    s = matcher_gate.summarise([run(0.6, 0.8, 0.9), run(0.7, 0.75, 0.7)])
    assert s["runs"] == 2 and "verifier" not in s
    assert s["margin_norm"]["precision_after"] == pytest.approx(0.775)
    assert s["margin_norm"]["min_true_kept"] == pytest.approx(0.7)
    assert s["margin_norm"]["min_gain"] == pytest.approx(0.05)
    assert np.isclose(s["precision_before"], 0.65)
