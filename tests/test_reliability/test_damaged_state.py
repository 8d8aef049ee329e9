"""Files a run leaves to resume from, damaged as a crash or a full disk leaves them: the next run says which file
and what to do (exit 2, one line), never a traceback, and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.scripted_server import Reply, ScriptedServer
from tests.test_reliability.test_sweep import assert_contract, snapshot
from tests.test_verifier.test_train import separable_groups, tiny_train_args


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verifier.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_a_truncated_training_checkpoint_is_a_clear_error(tiny_encoder, tmp_path):
    groups = separable_groups(tmp_path / "g.jsonl", n=40)
    out = tmp_path / "run"
    args = tiny_train_args(groups, tiny_encoder, out)
    assert cli(*args).returncode == 0
    for damaged in ("training_state.pt", "model.safetensors"):
        f = out / "last" / damaged
        keep = f.read_bytes()
        f.write_bytes(keep[: len(keep) // 3])
        before = snapshot(tmp_path)
        r = cli(*args, "--resume", "--max-steps", "6")
        assert_contract(r, str(out / "last"))
        assert "unreadable" in r.stderr and snapshot(tmp_path) == before
        f.write_bytes(keep)


def test_a_damaged_run_fingerprint_is_located(tmp_path):
    out = tmp_path / "g.jsonl"
    args = ("generate", "--generator", "perturb.v1", "--data", "sample", "--limit", "2", "--out", str(out))
    assert cli(*args).returncode == 0
    fp = Path(f"{out}.run.json")
    for body in ("{not json", "[1, 2]"):
        fp.write_text(body, encoding="utf-8")
        before = snapshot(tmp_path)
        r = cli(*args)
        assert_contract(r, "g.jsonl.run.json:1:")
        assert snapshot(tmp_path) == before


def test_a_damaged_completion_cache_is_named_and_left_alone(tmp_path):
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"this is not an sqlite file" * 100)
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps({"doc_id": "a", "text": "《雨巷》是戴望舒的代表作", "triples": []}, ensure_ascii=False) + "\n"
    )
    with ScriptedServer([Reply(content='{"triples": []}')] * 3) as srv:
        r = cli(
            "generate", "--llm", "openai-compatible", "--base-url", srv.url, "--model", "m", "--data",
            "duie", "--input", str(docs), "--cache", str(cache), "--out", str(tmp_path / "run" / "c.jsonl"),
        )  # fmt: skip
        assert len(srv.requests) == 0  # nothing asked, nothing paid
    assert_contract(r, "cache.sqlite")
    assert "unreadable" in r.stderr and cache.read_bytes() == b"this is not an sqlite file" * 100
