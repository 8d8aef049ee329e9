"""LLM client robustness against a real local HTTP server speaking /v1/chat/completions."""

import asyncio
import json
import time

import pytest

from generation.llm.client import LLMCallError
from generation.llm.generator import LLMGenerator
from tests.scripted_server import Reply, ScriptedServer
from tests.test_generation.conftest import make_client
from verifier.schema import Document

DOC = Document(doc_id="d1", text="《雨巷》是诗人戴望舒的代表作。")
GOOD = json.dumps({"triples": [{"head": "雨巷", "relation": "作者", "tail": "戴望舒"}]}, ensure_ascii=False)
CACRE_GOOD = json.dumps(
    {
        "anchors": [["雨巷", "作者", "戴望舒"]],
        "positives": [["戴望舒", "创作", "雨巷"]],
        "negatives": [["雨巷", "主角", "戴望舒"]],
    },
    ensure_ascii=False,
)


def run_extract(server: ScriptedServer, tmp_path, lexicon, kind="extract", **kw):
    client = make_client(server.url, tmp_path, **kw)
    gen = LLMGenerator(client, lexicon, kind=kind, lang="zh")

    async def go():
        try:
            return await gen.generate(DOC)
        finally:
            await client.aclose()

    return asyncio.run(go()), client


def test_429_with_retry_after_is_honoured(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(status=429, headers={"Retry-After": "0.3"}), Reply(content=GOOD)]) as srv:
        t0 = time.monotonic()
        rows, client = run_extract(srv, tmp_path, duie_lexicon, backoff_max_s=1.0)
        assert time.monotonic() - t0 >= 0.3
    assert [r.triple.tail for r in rows] == ["戴望舒"]
    assert client.usage.transport_retries == 1 and len(srv.requests) == 2


def test_retry_after_longer_than_our_backoff_cap_is_still_honoured(tmp_path, duie_lexicon):
    # the server asks for 1.2 s; our own backoff is capped at 0.2 s: retrying early would meet another 429
    with ScriptedServer([Reply(status=429, headers={"Retry-After": "1.2"}), Reply(content=GOOD)]) as srv:
        t0 = time.monotonic()
        rows, _ = run_extract(srv, tmp_path, duie_lexicon, backoff_max_s=0.2)
        assert time.monotonic() - t0 >= 1.2
    assert len(rows) == 1 and len(srv.requests) == 2


def test_retry_after_as_an_http_date_and_its_cap(tmp_path, duie_lexicon):
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=2), usegmt=True)
    with ScriptedServer([Reply(status=429, headers={"Retry-After": when}), Reply(content=GOOD)]) as srv:
        t0 = time.monotonic()
        run_extract(srv, tmp_path / "a", duie_lexicon, backoff_max_s=0.1)
        assert time.monotonic() - t0 >= 0.9  # the date has 1-second resolution
    with ScriptedServer([Reply(status=429, headers={"Retry-After": "3600"}), Reply(content=GOOD)]) as srv:
        t0 = time.monotonic()
        rows, _ = run_extract(srv, tmp_path / "b", duie_lexicon, retry_after_max_s=0.3)
        assert 0.3 <= time.monotonic() - t0 < 30
    assert len(rows) == 1


def ask(gen: LLMGenerator):
    async def go():
        try:
            return await gen.generate(DOC)
        finally:
            await gen.client.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("schema_format", ["llama_cpp", "openai"])
def test_constrain_schema_sends_the_answer_schema_in_the_endpoints_format(tmp_path, duie_lexicon, schema_format):
    with ScriptedServer([Reply(content=GOOD)] * 2) as srv:
        client = make_client(srv.url, tmp_path, schema_format=schema_format)
        rows = ask(LLMGenerator(client, duie_lexicon, kind="extract", lang="zh", constrain_schema=True))
        plain = make_client(srv.url, tmp_path / "plain", schema_format=schema_format)  # no schema: JSON mode
        ask(LLMGenerator(plain, duie_lexicon, kind="extract", lang="zh"))
    assert [r.triple.relation for r in rows] == ["作者"]
    fmt = srv.requests[0]["response_format"]
    schema = fmt["schema"] if schema_format == "llama_cpp" else fmt["json_schema"]["schema"]
    assert fmt["type"] == ("json_object" if schema_format == "llama_cpp" else "json_schema")
    triple = schema["properties"]["triples"]["items"]
    assert set(triple["properties"]["relation"]["enum"]) == set(duie_lexicon.relations)
    assert schema["properties"]["triples"]["maxItems"] == 16 and triple["required"] == ["head", "relation", "tail"]
    assert srv.requests[1]["response_format"] == {"type": "json_object"}


def test_a_cacre_schema_asks_for_at_least_one_group_and_frees_the_paraphrase():
    from generation.llm.structured import answer_schema

    s = answer_schema("cacre", ["作者", "主演"])
    assert s["required"] == ["anchors", "positives", "negatives"]
    assert all(s["properties"][k]["minItems"] == 1 for k in s["required"])
    assert s["properties"]["anchors"]["items"]["properties"]["relation"]["enum"] == ["作者", "主演"]
    assert "enum" not in s["properties"]["positives"]["items"]["properties"]["relation"]  # synonyms allowed


def test_every_string_of_an_answer_is_bounded_and_llama_cpp_compiles_the_schema():
    from generation.llm.structured import MAX_CHARS, answer_schema

    for kind in ("extract", "cacre", "expand"):
        s = answer_schema(kind, ["作者", "主演"])
        triples = [v.get("items", v) for v in s["properties"].values()]
        for t in triples:
            for name in ("head", "tail"):
                assert t["properties"][name]["maxLength"] == MAX_CHARS
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(answer_schema("expand", [])))
    assert "root" in gbnf and len(gbnf) > 100


def test_lists_format_asks_for_list_triples_and_reads_them(tmp_path, duie_lexicon):
    """--answer-format lists: the extract-lists prompt, a schema whose triple is a 3-item array with the relation
    enum in the middle, and the answer's lists read as triples."""
    from generation.llm.structured import answer_schema

    lists = json.dumps({"triples": [["雨巷", "作者", "戴望舒"]]}, ensure_ascii=False)
    with ScriptedServer([Reply(content=lists)]) as srv:
        client = make_client(srv.url, tmp_path, schema_format="llama_cpp")
        gen = LLMGenerator(
            client, duie_lexicon, kind="extract", lang="zh", constrain_schema=True, answer_format="lists"
        )
        rows = ask(gen)
    assert [(r.triple.head, r.triple.relation, r.triple.tail) for r in rows] == [("雨巷", "作者", "戴望舒")]
    assert rows[0].provenance.prompt_id == "extract-lists.zh"
    prompt = srv.requests[0]["messages"][-1]["content"]
    assert '[["主体", "关系", "客体"]]' in prompt and '"head"' not in prompt
    triple = srv.requests[0]["response_format"]["schema"]["properties"]["triples"]["items"]
    assert triple["type"] == "array" and triple["minItems"] == triple["maxItems"] == 3
    assert set(triple["prefixItems"][1]["enum"]) == set(duie_lexicon.relations)
    llama_grammar = pytest.importorskip("llama_cpp.llama_grammar")
    gbnf = llama_grammar.json_schema_to_gbnf(json.dumps(answer_schema("extract", ["作者"], answer_format="lists")))
    assert "tuple" in gbnf  # compiled as a fixed 3-slot array, not a free list
    with pytest.raises(ValueError, match="extraction"):
        answer_schema("cacre", ["作者"], answer_format="lists")


def test_repeat_penalty_is_sent_only_when_set(tmp_path, duie_lexicon):
    """llama-cpp-python's server applies 1.1 to a request that names no penalty; --repeat-penalty 1.0 turns it off."""
    with ScriptedServer([Reply(content=GOOD)] * 2) as srv:
        ask(LLMGenerator(make_client(srv.url, tmp_path / "a", repeat_penalty=1.0), duie_lexicon, kind="extract"))
        ask(LLMGenerator(make_client(srv.url, tmp_path / "b"), duie_lexicon, kind="extract"))
    assert srv.requests[0]["repeat_penalty"] == 1.0 and "repeat_penalty" not in srv.requests[1]


def test_500_then_success_and_timeout_then_success(tmp_path, duie_lexicon):
    script = [Reply(status=500), Reply(content=GOOD, delay_s=3.0), Reply(content=GOOD)]
    with ScriptedServer(script) as srv:
        rows, client = run_extract(srv, tmp_path, duie_lexicon, timeout_s=1.0)
    assert len(rows) == 1 and client.usage.transport_retries == 2 and len(srv.requests) == 3


def test_transport_failure_is_bounded_and_reported(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(status=503)] * 10) as srv, pytest.raises(LLMCallError, match="HTTP 503 after 3") as ei:
        run_extract(srv, tmp_path, duie_lexicon, max_attempts=3)
    assert ei.value.attempts == 3 and len(srv.requests) == 3


def test_client_errors_are_not_retried(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(status=400)] * 3) as srv, pytest.raises(LLMCallError, match="HTTP 400 after 1"):
        run_extract(srv, tmp_path, duie_lexicon)
    assert len(srv.requests) == 1


@pytest.mark.parametrize(
    "first",
    [
        Reply(content='{"triples": [{"head": "雨巷", "relation": "作者" "tail": "戴望舒"}]}'),  # malformed JSON
        Reply(content="", empty_choices=True),  # an empty choice list
        Reply(content='{"triples": [{"head": "雨巷", "relation": "老师", "tail": "戴望舒"}]}'),  # bad relation
    ],
)
def test_content_errors_are_reasked_with_the_error_shown(tmp_path, duie_lexicon, first):
    with ScriptedServer([first, Reply(content=GOOD)]) as srv:
        rows, client = run_extract(srv, tmp_path, duie_lexicon)
    assert len(rows) == 1 and client.usage.reasks == 1
    reask = srv.requests[1]["messages"]
    assert reask[-1]["role"] == "user" and "不符合要求" in reask[-1]["content"]
    assert reask[-2]["role"] == "assistant"


def test_fenced_and_think_answers_parse(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(content=f"<think>hmm</think>```json\n{GOOD}\n```")]) as srv:
        rows, _ = run_extract(srv, tmp_path, duie_lexicon)
    assert rows[0].triple.head == "雨巷"


def test_truncated_answer_doubles_max_tokens(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(content=GOOD[:30], finish_reason="length"), Reply(content=GOOD)]) as srv:
        rows, _ = run_extract(srv, tmp_path, duie_lexicon, max_tokens=100)
    assert [r["max_tokens"] for r in srv.requests] == [100, 200] and len(rows) == 1


def test_truncated_at_the_cap_is_a_clear_failure(tmp_path, duie_lexicon):
    with (
        ScriptedServer([Reply(content=GOOD[:30], finish_reason="length")] * 6) as srv,
        pytest.raises(LLMCallError, match="cut off") as ei,
    ):
        run_extract(srv, tmp_path, duie_lexicon, max_tokens=100, max_tokens_cap=200, max_reasks=1)
    assert ei.value.last_response == GOOD[:30]
    assert [r["max_tokens"] for r in srv.requests] == [100, 200]  # no re-ask at the cap


def test_wrong_counts_are_reasked_then_fail_with_last_response(tmp_path, duie_lexicon):
    bad = json.dumps({"anchors": [["雨巷", "作者", "戴望舒"]], "positives": [], "negatives": []}, ensure_ascii=False)
    with ScriptedServer([Reply(content=bad)] * 3) as srv, pytest.raises(LLMCallError, match="equally many") as ei:
        run_extract(srv, tmp_path, duie_lexicon, kind="cacre", max_reasks=2)
    assert ei.value.attempts == 3 and ei.value.last_response == bad and len(srv.requests) == 3


def test_cacre_groups_and_json_mode(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(content=CACRE_GOOD)]) as srv:
        rows, _ = run_extract(srv, tmp_path, duie_lexicon, kind="cacre")
    assert [(r.role, r.group_id) for r in rows] == [("anchor", "d1#g0"), ("positive", "d1#g0"), ("negative", "d1#g0")]
    assert rows[2].corruption == "llm_negative" and rows[0].provenance.prompt_id == "cacre.zh"
    assert srv.requests[0]["response_format"] == {"type": "json_object"}


def test_reasoner_sends_no_json_mode(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(content="<think>…</think>" + GOOD)]) as srv:
        run_extract(srv, tmp_path, duie_lexicon, reasoner=True)
    assert "response_format" not in srv.requests[0] and srv.requests[0]["messages"][-1]["role"] == "user"


def test_cache_makes_a_rerun_free_and_refresh_bypasses_it(tmp_path, duie_lexicon):
    with ScriptedServer([Reply(content=GOOD)] * 3) as srv:
        run_extract(srv, tmp_path, duie_lexicon)
        _, client = run_extract(srv, tmp_path, duie_lexicon)
        assert len(srv.requests) == 1 and client.usage.cache_hits == 1 and client.usage.requests == 0
        client = make_client(srv.url, tmp_path)
        client.refresh = True
        asyncio.run(LLMGenerator(client, duie_lexicon, kind="extract").generate(DOC))
        assert len(srv.requests) == 2


def test_a_finally_invalid_answer_is_not_replayed_by_the_next_run(tmp_path, duie_lexicon):
    """The failed conversation's answers leave the cache, so "retried by the next run" really asks again."""
    with ScriptedServer([Reply(content="not json"), Reply(content="still not json")]) as srv:
        with pytest.raises(LLMCallError, match="invalid answer"):
            run_extract(srv, tmp_path, duie_lexicon, max_reasks=1)
        assert len(srv.requests) == 2
    with ScriptedServer([Reply(content=GOOD)]) as srv:
        rows, client = run_extract(srv, tmp_path, duie_lexicon, max_reasks=1)
        assert len(srv.requests) == 1 and client.usage.cache_hits == 0 and rows


def test_a_refused_key_stops_the_run_and_no_key_is_ever_stored_or_printed(tmp_path, duie_lexicon, monkeypatch):
    from generation.base import run_generation
    from generation.llm.client import LLMAuthError
    from generation.llm.generator import LLMGenerator
    from verifier.config import ConfigError
    from verifier.schema import Document

    secret = "sk-live-0123456789abcdef"
    monkeypatch.setenv("MY_KEY", secret)
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {secret}"}})
    with pytest.raises(ConfigError, match="NAME of an environment variable") as e:
        make_client("http://127.0.0.1:9/v1", tmp_path, api_key_env=secret)
    assert secret not in str(e.value)
    docs = [Document(doc_id=f"d{i}", text="《雨巷》是戴望舒写的。") for i in range(20)]
    with ScriptedServer([Reply(status=401, raw_body=echo)] * 10) as srv:
        client = make_client(srv.url, tmp_path, api_key_env="MY_KEY")
        gen = LLMGenerator(client, duie_lexicon, kind="extract", lang="zh")
        out = tmp_path / "run" / "c.jsonl"
        with pytest.raises(LLMAuthError) as e:
            asyncio.run(run_generation(gen, docs, out, concurrency=2, progress=False))
        assert len(srv.requests) <= 2  # the requests in flight, not one per document
    assert "401" in str(e.value) and secret not in str(e.value) and "[redacted]" in str(e.value)
    for f in (tmp_path / "run").iterdir():
        assert secret not in f.read_text(encoding="utf-8")
    with ScriptedServer([Reply(status=400, raw_body=echo)] * 3) as srv:  # a per-document error: a Failure row
        client = make_client(srv.url, tmp_path, api_key_env="MY_KEY")
        gen = LLMGenerator(client, duie_lexicon, kind="extract", lang="zh")
        s = asyncio.run(run_generation(gen, docs[:1], tmp_path / "run2" / "c.jsonl", progress=False))
    assert s.documents_failed == 1
    fails = (tmp_path / "run2" / "failures.jsonl").read_text(encoding="utf-8")
    assert "HTTP 400" in fails and secret not in fails and "[redacted]" in fails


def test_a_cache_scope_survives_a_new_port(tmp_path, duie_lexicon):
    """A local llama.cpp server listens on a new port each run: with the run's cache scope the rerun is free."""
    with ScriptedServer([Reply(content=GOOD)] * 2) as first:
        run_extract(first, tmp_path, duie_lexicon, cache_scope="local:model.gguf")
    with ScriptedServer([Reply(content=GOOD)] * 2) as second:
        assert second.url != first.url
        _, client = run_extract(second, tmp_path, duie_lexicon, cache_scope="local:model.gguf")
        assert len(second.requests) == 0 and client.usage.cache_hits == 1
    with ScriptedServer([Reply(content=GOOD)] * 2) as third:  # without a scope the endpoint is its URL
        _, client = run_extract(third, tmp_path, duie_lexicon)
        assert len(third.requests) == 1


def test_api_key_comes_from_the_environment(tmp_path, duie_lexicon, monkeypatch):
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ValueError, match="MY_KEY is not set"):
        make_client("http://127.0.0.1:9/v1", tmp_path, api_key_env="MY_KEY")
    monkeypatch.setenv("MY_KEY", "sk-abc")
    with ScriptedServer([Reply(content=GOOD)]) as srv:
        run_extract(srv, tmp_path, duie_lexicon, api_key_env="MY_KEY")
    assert srv.auth_headers == ["Bearer sk-abc"]


def test_rpm_limit_spaces_requests(tmp_path, duie_lexicon):
    from generation.llm.client import RateLimiter

    async def go():
        lim = RateLimiter(rpm=600)  # 0.1 s apart
        t0 = time.monotonic()
        for _ in range(4):
            await lim.wait()
        return time.monotonic() - t0

    assert asyncio.run(go()) >= 0.29
