"""The eval report on a small scored set, and the notebooks executed headlessly on its output."""

from pathlib import Path

import nbformat
import numpy as np
import pytest

from eval.report import EvalConfig, run_eval
from verifier.io import write_jsonl
from verifier.schema import Evidence, GoldRecord, Provenance, ScoredCandidate, Triple

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def small_eval_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    gold, kept, rejected = [], [], []
    for i in range(30):
        text = f"作品{i}的作者是作家{i}。"
        g = Triple(head=f"作品{i}", relation="作者", tail=f"作家{i}")
        gold.append(GoldRecord(doc_id=f"d{i}", text=text, triples=[g]))
        for t, label, corr in [
            (g, 1, None),
            (Triple(head=f"作家{i}", relation="作者", tail=f"作品{i}"), 0, "head_tail_swap"),
        ]:
            s_st = float(np.clip(rng.normal(0.6 if label else 0.1, 0.25), -1, 1))
            s_tt = float(np.clip(rng.normal(0.7 if label else 0.3, 0.25), -1, 1))
            keep = s_st >= 0.35
            row = ScoredCandidate(
                doc_id=f"d{i}",
                text=text,
                triple=t,
                role="anchor" if label else "negative",
                group_id=f"d{i}#g0",
                corruption=corr,
                provenance=Provenance(generator="perturb.v1"),
                label=label,
                s_st=s_st,
                s_tt=s_tt,
                p_correct=float((s_st + 1) / 2),
                decision="keep" if keep else "reject",
                reason=None if keep else "below_tau1",
                evidence=Evidence(),
            )
            (kept if keep else rejected).append(row)
    write_jsonl(tmp_path / "gold.jsonl", gold)
    write_jsonl(tmp_path / "kept.jsonl", kept)
    write_jsonl(tmp_path / "rejected.jsonl", rejected)
    run_eval(
        EvalConfig(
            pred=str(tmp_path / "kept.jsonl"),
            gold=str(tmp_path / "gold.jsonl"),
            candidates=[str(tmp_path / "kept.jsonl"), str(tmp_path / "rejected.jsonl")],
            out=str(tmp_path / "eval"),
        )
    )
    return tmp_path / "eval"


def test_report_files_and_numbers(tmp_path):
    d = small_eval_dir(tmp_path)
    for f in ("metrics.json", "scores.jsonl", "tables.md", "roc.png", "pr.png", "hist.png", "tau_curves.png"):
        assert (d / f).exists() and (d / f).stat().st_size > 0
    import json

    m = json.loads((d / "metrics.json").read_text())
    assert m["before"]["strict"]["precision"] == pytest.approx(0.5) and m["before"]["strict"]["recall"] == 1.0
    assert m["after"]["strict"]["precision"] >= 0.5 and 0.5 < m["auc"]["text"] <= 1.0
    assert m["hallucination_pass_rate"]["head_tail_swap"]["n"] == 30
    assert "| strict |" in (d / "tables.md").read_text()
    rows = [json.loads(line) for line in (d / "scores.jsonl").read_text().splitlines()]
    assert all(0 <= r["p_correct"] <= 1 for r in rows) and m["calibration"]["auc_p_correct"] > 0.5


@pytest.mark.parametrize("name", ["roc.ipynb", "similarity.ipynb"])
def test_notebooks_run_headlessly_and_are_committed_without_outputs(tmp_path, name, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    d = small_eval_dir(tmp_path)
    monkeypatch.setenv("EVAL_DIR", str(d))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("scored candidates" in o.get("text", "") for o in outputs)


def test_empty_or_disjoint_gold_is_an_error_and_writes_nothing(tmp_path):
    from verifier.io import InputError

    src = tmp_path / "src"
    src.mkdir()
    small_eval_dir(src)
    write_jsonl(tmp_path / "empty.jsonl", [])
    write_jsonl(tmp_path / "other.jsonl", [GoldRecord(doc_id="elsewhere", text="x", triples=[])])
    for gold, message in (("empty.jsonl", "no gold records"), ("other.jsonl", "the wrong --gold")):
        out = tmp_path / f"ev_{gold}"
        cfg = EvalConfig(pred=str(src / "kept.jsonl"), gold=str(tmp_path / gold), out=str(out))
        with pytest.raises(InputError, match=message):
            run_eval(cfg)
        assert not out.exists()


def test_the_cli_lists_only_the_files_it_wrote(tmp_path, capsys):
    from verifier.cli import main

    small_eval_dir(tmp_path)  # writes gold / kept / rejected
    args = ["eval", "--pred", str(tmp_path / "kept.jsonl"), "--gold", str(tmp_path / "gold.jsonl")]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0  # no candidates: no scores, so no plots
    listed = capsys.readouterr().out.strip().splitlines()[-1]
    assert "metrics.json" in listed and ".png" not in listed
    assert not list((tmp_path / "plain").glob("*.png"))
    assert main([*args, "--candidates", str(tmp_path / "rejected.jsonl"), "--out", str(tmp_path / "full")]) == 0
    listed = capsys.readouterr().out.strip().splitlines()[-1]
    assert all(f in listed for f in ("roc.png", "pr.png", "hist.png", "tau_curves.png"))
