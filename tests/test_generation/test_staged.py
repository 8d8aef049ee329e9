"""staged.v1 against a real local OpenAI-compatible HTTP server: the extraction request, one expansion request per
grounded schema anchor, the groups built from the answers, a failed expansion skipped, and the schema sent."""

import json
import re

from generation.llm.structured import ContentError, LLMTriple, validate_expansion
from generation.run import GenerateConfig, generate
from tests.scripted_server import Reply, ScriptedServer, text_block
from tests.test_generation.test_hybrid import extractor
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.schema import Candidate

_ANCHOR = re.compile(r"[（(](.+?)[，,]\s*(.+?)[，,]\s*(.+?)[）)]\s*$")


def responder(fail_on: str | None = None):
    """Extraction requests as in test_hybrid; an expansion answers the inverse as the positive and three negatives,
    one of them a copy of the anchor (to be dropped). ``fail_on``: the text prefix whose expansion stays invalid
    (its positive names an entity absent from the text, every time)."""

    def respond(request: dict) -> Reply:
        first = next(m["content"] for m in request["messages"] if m["role"] == "user")
        if "锚点三元组" not in first:
            return extractor(request)
        text = text_block(request)
        h, r, t = _ANCHOR.search(first.strip()).groups()
        if fail_on and text.startswith(fail_on):
            wrong = {"head": "不存在的实体", "relation": r, "tail": t}
            body = {"positive": wrong, "negatives": [{"head": t, "relation": r, "tail": h}]}
        else:
            body = {
                "positive": {"head": t, "relation": r + "的反向", "tail": h},
                "negatives": [
                    {"head": h, "relation": r, "tail": t},  # the anchor itself: dropped
                    {"head": t, "relation": r, "tail": h},
                    {"head": h, "relation": "易混淆关系", "tail": t},
                ],
            }
        return Reply(content=json.dumps(body, ensure_ascii=False))

    return respond


def config(url: str, tmp_path, out: str, **kw) -> GenerateConfig:
    base = dict(
        llm="openai-compatible", base_url=url, model="m", prompt="staged", data="sample", split="zh", limit=4,
        out=str(tmp_path / out / "rows.jsonl"), cache=str(tmp_path / "cache.sqlite"), n_negatives=3,
    )  # fmt: skip
    return GenerateConfig(**{**base, **kw})


def test_staged_groups_take_the_llms_positive_and_negatives_for_each_grounded_anchor(tmp_path):
    lex = lexicon_for("sample", "zh")
    with ScriptedServer(responder=responder()) as srv:
        summary = generate(config(srv.url, tmp_path, "s"))
        expansions = [r for r in srv.requests if "锚点三元组" in r["messages"][-1]["content"]]
    assert len(expansions) == 4  # one grounded schema anchor per document, one expansion each
    rows = list(read_jsonl(tmp_path / "s" / "rows.jsonl", Candidate))
    groups: dict[str, list[Candidate]] = {}
    for r in rows:
        groups.setdefault(r.group_id or "", []).append(r)
    assert len(groups) == 4
    for g in groups.values():
        roles = [r.role for r in g]
        assert roles.count("anchor") == 1 and roles.count("positive") == 1 and roles.count("negative") == 2
        anchor = next(r.triple for r in g if r.role == "anchor")
        assert anchor.relation in lex.relations and anchor.head in g[0].text and anchor.tail in g[0].text
        assert all(r.triple.key() != anchor.key() for r in g if r.role == "negative")
        assert all(r.label == (0 if r.role == "negative" else 1) for r in g)
        assert {(r.provenance.generator, r.provenance.prompt_id) for r in g} == {("staged.v1", "extract.zh+expand.zh")}
    stats = summary.generator_stats
    assert stats["group_yield"] == 1.0 and stats["anchors"] == 4 and stats["groups"] == 4
    assert stats["failed_expansions"] == 0 and stats["requests"] == 8


def test_a_failed_expansion_skips_its_anchor_only_and_schema_mode_sends_the_expansion_schema(tmp_path):
    with ScriptedServer(responder=responder()) as probe:
        generate(config(probe.url, tmp_path, "probe", limit=1))
        first_text = text_block(probe.requests[0])
    with ScriptedServer(responder=responder(fail_on=first_text[:6])) as srv:
        summary = generate(config(srv.url, tmp_path, "f", constrain="schema", refresh=True))
        expansion = next(r for r in srv.requests if "锚点三元组" in r["messages"][-1]["content"])
    schema = expansion["response_format"]["json_schema"]["schema"]
    assert set(schema["properties"]) == {"positive", "negatives"} and schema["properties"]["negatives"]["maxItems"] == 3
    stats = summary.generator_stats
    assert stats["failed_expansions"] == 1 and stats["groups"] == 3 and summary.documents_done == 4
    (reason,) = stats["failed_expansion_reasons"]
    assert "does not occur in the text" in reason and "不存在的实体" not in reason  # the kind, not the value
    rows = list(read_jsonl(tmp_path / "f" / "rows.jsonl", Candidate))
    assert not any(r.text.startswith(first_text[:6]) for r in rows)


def test_expansion_validation():
    text = "红楼梦的作者是曹雪芹"
    a = LLMTriple(head="红楼梦", relation="作者", tail="曹雪芹")
    pos = {"head": "曹雪芹", "relation": "创作", "tail": "红楼梦"}
    neg = {"head": "红楼梦", "relation": "作曲", "tail": "曹雪芹"}
    p, negs = validate_expansion({"positive": pos, "negatives": [neg, neg, a.model_dump()]}, text, a, 5)
    assert p.relation == "创作" and [n.relation for n in negs] == ["作曲"]  # repeats and the anchor dropped
    for bad, msg in (
        ({"positive": a.model_dump(), "negatives": [neg]}, "repeats the anchor"),
        ({"positive": {**pos, "head": "林黛玉"}, "negatives": [neg]}, "does not occur"),
        ({"positive": pos, "negatives": [a.model_dump()]}, "every negative"),
        ({"negatives": [neg]}, "positive"),
    ):
        try:
            validate_expansion(bad, text, a, 5)
        except ContentError as e:
            assert msg in str(e)
        else:
            raise AssertionError(f"accepted {bad}")
