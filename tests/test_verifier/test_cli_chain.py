"""The whole CLI chain on the shipped sample corpus with a tiny model:
generate (perturb.v1 groups + llm.v1 candidates from a local OpenAI-compatible server) -> train -> calibrate
-> filter -> eval."""

import json
import subprocess
import sys

from tests.scripted_server import ScriptedServer, copy_extractor


def cli(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "verifier.cli", "-q", *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, (args, r.stdout, r.stderr[-2000:])
    return r


def test_generate_train_calibrate_filter_eval(tiny_encoder, tmp_path):
    d = tmp_path
    cli(
        "generate", "--generator", "perturb.v1", "--data", "sample", "--split", "zh", "--out", str(d / "g/groups.jsonl")
    )
    with ScriptedServer(responder=copy_extractor("作者")) as srv:
        cli(
            "generate",
            "--llm",
            "openai-compatible",
            "--base-url",
            srv.url,
            "--model",
            "m",
            "--prompt",
            "extract",
            "--data",
            "sample",
            "--split",
            "zh",
            "--limit",
            "30",
            "--out",
            str(d / "c/candidates.jsonl"),
            "--cache",
            str(d / "cache.sqlite"),
        )
    cli(
        "train",
        "--candidates",
        str(d / "g/groups.jsonl"),
        "--encoder",
        str(tiny_encoder),
        "--out",
        str(d / "m"),
        "--projection-dim",
        "16",
        "--n-heads",
        "2",
        "--batch-size",
        "16",
        "--max-steps",
        "20",
        "--eval-every",
        "10",
        "--lr",
        "3e-3",
        "--no-progress",
    )
    lines = (d / "g/groups.jsonl").read_text(encoding="utf-8").splitlines()
    (d / "val.jsonl").write_text("\n".join(lines[:300]) + "\n", encoding="utf-8")
    r = cli("calibrate", "--model", str(d / "m/best"), "--val", str(d / "val.jsonl"))
    assert "tau1=" in r.stdout and (d / "m/best/thresholds.json").exists()
    cli(
        "filter",
        str(d / "c/candidates.jsonl"),
        "--model",
        str(d / "m/best"),
        "--out",
        str(d / "f/kept.jsonl"),
        "--rejected",
        str(d / "f/rejected.jsonl"),
        "--no-progress",
    )
    n_in = len((d / "c/candidates.jsonl").read_text().splitlines())
    n_out = sum(len((d / f"f/{n}.jsonl").read_text().splitlines()) for n in ("kept", "rejected"))
    assert n_in == n_out == 30
    cli("data", "export", "--data", "sample", "--split", "zh", "--out", str(d / "gold.jsonl"))
    r = cli(
        "eval",
        "--pred",
        str(d / "f/kept.jsonl"),
        "--gold",
        str(d / "gold.jsonl"),
        "--candidates",
        str(d / "f/kept.jsonl"),
        str(d / "f/rejected.jsonl"),
        "--out",
        str(d / "e"),
    )
    m = json.loads((d / "e/metrics.json").read_text())
    assert "before" in m and "after" in m and (d / "e/roc.png").exists()
    assert "raw (strict)" in r.stdout
