"""LLM-as-judge baseline over real HTTP: P(yes) from the first token's log-probabilities, rows for eval."""

import math
import re

import numpy as np

from generation.judge import JudgeConfig, p_yes, run_judge
from tests.scripted_server import Reply, ScriptedServer
from verifier.io import read_jsonl, write_jsonl
from verifier.schema import Candidate, Provenance, ScoredCandidate, Triple

TEXT = "《雨巷》是戴望舒的代表作。"


def supports(request) -> Reply:
    """A judge that says yes (with confidence) when the asked tail occurs in the text, no otherwise."""
    user = request["messages"][-1]["content"]
    assert request.get("logprobs") is True and request.get("max_tokens") == 1 and "response_format" not in request
    tail = re.search(r"三元组：（(.*?)，(.*?)，(.*?)）", user).group(3)
    yes = 0.9 if tail in TEXT else 0.2
    return Reply(
        content="是" if yes > 0.5 else "否",
        top_logprobs={"是": math.log(yes), "否": math.log(1 - yes), "Yes": math.log(1e-4)},
    )


def test_p_yes_reads_yes_and_no_tokens():
    assert abs(p_yes({"是": math.log(0.6), "否": math.log(0.2), "的": 0.0}) - 0.75) < 1e-9
    assert abs(p_yes({" yes": math.log(0.3), "No": math.log(0.3)}) - 0.5) < 1e-9
    assert p_yes({"的": 0.0}) is None and p_yes(None) is None


def test_judge_over_http_writes_scored_rows(tmp_path):
    prov = Provenance(generator="test.v1")
    rows = [
        Candidate(doc_id="d", text=TEXT, triple=Triple(head="雨巷", relation="作者", tail=t), provenance=prov)
        for t in ("戴望舒", "徐志摩")
    ]
    inp = tmp_path / "c.jsonl"
    write_jsonl(inp, rows)
    with ScriptedServer(responder=supports) as srv:
        cfg = JudgeConfig(
            input=str(inp),
            out=str(tmp_path / "j.jsonl"),
            llm="openai-compatible",
            base_url=srv.url,
            model="scripted",
            cache=str(tmp_path / "cache.sqlite"),
            progress=False,
        )
        s = run_judge(cfg)
        n_requests = len(srv.requests)
        again = run_judge(cfg)  # the cache answers a rerun
        assert len(srv.requests) == n_requests
    out = list(read_jsonl(tmp_path / "j.jsonl", ScoredCandidate))
    np.testing.assert_allclose([r.s_st for r in out], [0.9 / (0.9 + 0.1 + 0), 0.2 / 1.0], atol=1e-3)
    assert [r.decision for r in out] == ["keep", "reject"] and out[0].verifier == "judge:scripted"
    assert s.rows == 2 and s.undecided == 0 and s.triples_per_s > 0 and again.rows == 2
