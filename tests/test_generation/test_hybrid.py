"""hybrid.v1 against a real local OpenAI-compatible HTTP server: the extraction request, the anchors it keeps, the
groups perturb.v1 builds around them, and the reuse of a cached extraction run."""

import json

from generation.run import GenerateConfig, generate
from tests.scripted_server import Reply, ScriptedServer, text_block
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.schema import Candidate


def extractor(request: dict) -> Reply:
    """One grounded schema triple, one outside the schema and one whose tail is not in the text."""
    text = text_block(request)
    rel = next(iter(lexicon_for("sample", "zh").relations))
    triples = [
        {"head": text[:2], "relation": rel, "tail": text[2:4]},
        {"head": text[:2], "relation": "不在表里的关系", "tail": text[2:4]},
        {"head": text[:2], "relation": rel, "tail": "文本里没有的词"},
    ]
    return Reply(content=json.dumps({"triples": triples}, ensure_ascii=False))


def config(url: str, tmp_path, prompt: str, out: str) -> GenerateConfig:
    return GenerateConfig(
        llm="openai-compatible", base_url=url, model="m", prompt=prompt, data="sample", split="zh", limit=4,
        out=str(tmp_path / out / "rows.jsonl"), cache=str(tmp_path / "cache.sqlite"), n_negatives=3,
    )  # fmt: skip


def test_hybrid_groups_surround_the_grounded_schema_triples_of_an_extraction(tmp_path):
    lex = lexicon_for("sample", "zh")
    with ScriptedServer(responder=extractor) as srv:
        summary = generate(config(srv.url, tmp_path, "hybrid", "h"))
        asked = len(srv.requests)
        assert all("anchors" not in r["messages"][-1]["content"] for r in srv.requests)  # the extraction prompt
        generate(config(srv.url, tmp_path, "extract", "e"))  # the same requests: answered from the cache
        assert len(srv.requests) == asked
    rows = list(read_jsonl(tmp_path / "h" / "rows.jsonl", Candidate))
    groups: dict[str, list[Candidate]] = {}
    for r in rows:
        groups.setdefault(r.group_id or "", []).append(r)
    assert len(groups) == summary.documents_done == 4  # one anchor per document: the grounded schema triple
    for g in groups.values():
        anchor = [r for r in g if r.role == "anchor"]
        assert len(anchor) == 1 and anchor[0].triple.relation in lex.relations
        assert anchor[0].triple.head in anchor[0].text and anchor[0].triple.tail in anchor[0].text
        assert [r.role for r in g].count("positive") == 1 and 1 <= [r.role for r in g].count("negative") <= 3
        assert all(r.label == (0 if r.role == "negative" else 1) for r in g)
        assert all(r.provenance.generator == "hybrid.v1" and r.provenance.model == "m" for r in g)
    stats = summary.generator_stats
    assert stats["group_yield"] == 1.0 and stats["extracted"] == 12 and stats["anchors"] == 4
