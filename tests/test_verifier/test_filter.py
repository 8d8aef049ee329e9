"""Filter: threshold edges, vectorised decisions, views, streaming output, evidence, bad input."""

import itertools
import json

import pytest
import torch

from verifier.config import ConfigError
from verifier.filter import FilterConfig, choose_views, group_views, iter_chunks, lexicon_view, run_filter
from verifier.io import InputError, read_jsonl, write_jsonl
from verifier.lexicon import lexicon_for
from verifier.model.cacre import CacreConfig, TripleVerifier
from verifier.model.encoder import TextEncoder
from verifier.schema import Candidate, Provenance, ScoredCandidate, Triple

PROV = Provenance(generator="test.v1")


def row(doc, h, r, t, role="candidate", gid=None, label=None, text="《雨巷》是戴望舒的代表作，戴望舒是诗人。"):
    return Candidate(
        doc_id=doc,
        text=text,
        triple=Triple(head=h, relation=r, tail=t),
        role=role,
        group_id=gid,
        provenance=PROV,
        label=label,
    )


def test_views_from_groups_and_lexicon():
    lex = lexicon_for("duie")
    rows = [
        row("d", "雨巷", "作者", "戴望舒", "anchor", "g"),
        row("d", "戴望舒", "创作", "雨巷", "positive", "g"),
        row("d", "雨巷", "主角", "戴望舒", "negative", "g"),
        row("d", "雨巷", "作者", "戴望舒"),
    ]
    g = group_views(rows)
    assert [v.relation if v else None for v in g] == ["创作", "作者", "创作", None]
    v = choose_views(rows, "auto", {"zh": lex})
    assert v[3].relation == lex.relations["作者"].synonyms[0]
    assert lexicon_view(Triple(head="a", relation="不存在", tail="b"), lex) is None
    assert choose_views(rows, "group", {"zh": lex})[3] is None


def test_chunks_end_on_document_boundaries(tmp_path):
    p = tmp_path / "c.jsonl"
    write_jsonl(p, [row(f"d{i // 3}", "雨巷", "作者", "戴望舒") for i in range(10)])
    chunks = list(iter_chunks(p, 4))
    assert [len(c) for c in chunks] == [6, 4] and all(
        len({r.doc_id for r in c} & {r.doc_id for r in d}) == 0 for c, d in itertools.pairwise(chunks)
    )


@pytest.fixture
def model_dir(tiny_encoder, tmp_path_factory):
    torch.manual_seed(0)
    m = TripleVerifier(
        CacreConfig(encoder=str(tiny_encoder), projection_dim=16, n_heads=2), TextEncoder.from_name(str(tiny_encoder))
    )
    d = tmp_path_factory.mktemp("model")
    m.save_pretrained(d)
    (d / "thresholds.json").write_text(json.dumps({"tau1": 0.0, "tau2": -1.0}), encoding="utf-8")
    return d


def test_filter_writes_scored_rows_with_evidence(model_dir, tmp_path):
    rows = [
        row("d1", "雨巷", "作者", "戴望舒"),
        row("d1", "雨巷", "主角", "戴望舒"),
        row("d2", "徐志摩", "作者", "再别康桥", text="《再别康桥》的作者是徐志摩。"),
    ]
    inp = tmp_path / "in.jsonl"
    write_jsonl(inp, rows)
    cfg = FilterConfig(
        input=str(inp),
        model=str(model_dir),
        out=str(tmp_path / "k.jsonl"),
        rejected=str(tmp_path / "r.jsonl"),
        progress=False,
        batch_size=2,
        chunk_size=1,
    )
    s = run_filter(cfg)
    kept = list(read_jsonl(tmp_path / "k.jsonl", ScoredCandidate))
    rej = list(read_jsonl(tmp_path / "r.jsonl", ScoredCandidate))
    assert len(kept) + len(rej) == 3 == s.rows and s.tau1 == 0.0
    for r in kept + rej:
        assert (r.decision == "keep") == (r.s_st >= 0.0) and -1 <= r.s_st <= 1
        assert r.evidence.head_offsets and r.text[slice(*r.evidence.head_offsets[0])] == r.triple.head
        a, b = r.evidence.attention_span
        assert r.evidence.attention_text == r.text[a:b] and b > a
    assert [h for r in kept + rej if r.doc_id == "d1" for h in r.evidence.tail_offsets][:2] == [(5, 8), (13, 16)]
    # explicit flags override thresholds.json
    s2 = run_filter(cfg.model_copy(update={"tau1": 1.0, "tau2": 1.0}))
    assert s2.kept == 0


def test_rules_reject_out_of_schema_relations_and_absent_mentions_from_the_cli(model_dir, tmp_path):
    from verifier.cli import main

    rows = [
        row("d1", "雨巷", "作者", "戴望舒"),  # in the schema, both mentions in the text
        row("d1", "雨巷", "写作者", "戴望舒"),  # relation outside the DuIE schema
        row("d1", "雨巷", "作者", "徐志摩"),  # tail not in the text
    ]
    inp = tmp_path / "in.jsonl"
    write_jsonl(inp, rows)
    args = ["filter", str(inp), "--model", str(model_dir), "--out", str(tmp_path / "k.jsonl"), "--no-progress"]
    args += ["--rejected", str(tmp_path / "r.jsonl"), "--tau1", "-1", "--tau2", "-1", "--no-repair"]
    assert main([*args, "--rules", "schema", "mentions"]) == 0
    kept = list(read_jsonl(tmp_path / "k.jsonl", ScoredCandidate))
    rej = list(read_jsonl(tmp_path / "r.jsonl", ScoredCandidate))
    assert [r.triple.relation for r in kept] == ["作者"] and kept[0].triple.tail == "戴望舒"
    assert [r.reason for r in rej] == ["out_of_schema", "mention_not_in_text"]
    assert all(-1 <= r.s_st <= 1 for r in rej)  # rule-rejected rows are still scored
    assert main([*args, "--rules", "schema"]) == 0  # schema only: the absent tail is kept
    assert len(list(read_jsonl(tmp_path / "k.jsonl", ScoredCandidate))) == 2
    assert main([*args[:-1], "--rules", "schema", "mentions", "--no-dedupe"]) == 0  # with repair (the default)
    kept = list(read_jsonl(tmp_path / "k.jsonl", ScoredCandidate))
    assert [(r.triple.relation, r.original.relation if r.original else None, r.repairs) for r in kept] == [
        ("作者", None, []),
        ("作者", "写作者", ["relation:synonym"]),  # a lexicon synonym is mapped onto the schema, and kept
    ]
    assert main([*args[:-1], "--rules", "schema", "mentions"]) == 0  # the mapped row is now a copy of the first
    assert len(list(read_jsonl(tmp_path / "k.jsonl", ScoredCandidate))) == 1
    assert [
        (r.original.relation, r.reason) for r in read_jsonl(tmp_path / "r.jsonl", ScoredCandidate) if r.original
    ] == [("写作者", "duplicate")]
    write_jsonl(inp, [rows[0].model_copy(update={"lang": "en"})])  # no English lexicon unless --lexicon names one
    with pytest.raises(ConfigError, match="no relation lexicon for 'en' rows"):
        run_filter(FilterConfig(input=str(inp), model=str(model_dir), out=str(tmp_path / "k2.jsonl"), rules=["schema"]))
    assert not (tmp_path / "k2.jsonl").exists()


def test_a_filter_output_can_be_filtered_again(model_dir, tmp_path):
    rows = [
        row("d1", "雨巷", "作者", "戴望舒"),
        row("d1", "戴望舒", "写作者", "雨巷"),
        row("d1", "雨巷", "主角", "徐志摩"),
    ]
    inp, kept = tmp_path / "in.jsonl", tmp_path / "k.jsonl"
    write_jsonl(inp, rows)
    first = FilterConfig(input=str(inp), model=str(model_dir), out=str(kept), tau1=-1.0, tau2=-1.0, progress=False)
    run_filter(first)
    once = list(read_jsonl(kept, ScoredCandidate))
    assert len(once) == 3 and once[1].repairs == ["relation:synonym"]
    again = first.model_copy(update={"input": str(kept), "out": str(tmp_path / "k2.jsonl")})
    run_filter(again)  # its own output: read as the candidates they were, repaired again the same way
    twice = list(read_jsonl(tmp_path / "k2.jsonl", ScoredCandidate))
    assert [(r.triple, r.original, r.repairs) for r in twice] == [(r.triple, r.original, r.repairs) for r in once]
    assert [r.s_st for r in twice] == pytest.approx([r.s_st for r in once], abs=1e-5)
    tighter = again.model_copy(update={"tau1": 1.0, "tau2": 1.0, "out": str(tmp_path / "k3.jsonl")})
    assert run_filter(tighter).kept == 0


def test_malformed_line_reported_and_nothing_written(model_dir, tmp_path):
    inp = tmp_path / "in.jsonl"
    good = row("d1", "雨巷", "作者", "戴望舒").model_dump_json()
    inp.write_text(good + "\n" + good + "\n" + '{"doc_id": "d2", "text": "x"}' + "\n", encoding="utf-8")
    out = tmp_path / "k.jsonl"
    with pytest.raises(InputError, match=r"in\.jsonl:3: triple: Field required"):
        run_filter(
            FilterConfig(
                input=str(inp),
                model=str(model_dir),
                out=str(out),
                rejected=str(tmp_path / "r.jsonl"),
                progress=False,
                chunk_size=1,
            )
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_missing_thresholds_is_a_config_error(tiny_encoder, tmp_path):
    m = TripleVerifier(
        CacreConfig(encoder=str(tiny_encoder), projection_dim=16, n_heads=2), TextEncoder.from_name(str(tiny_encoder))
    )
    m.save_pretrained(tmp_path / "m")
    with pytest.raises(ConfigError, match="calibrate"):
        run_filter(FilterConfig(input="x", model=str(tmp_path / "m")))


def test_outputs_that_would_overwrite_the_input_or_each_other_are_refused(model_dir, tmp_path):
    from verifier.cli import main

    inp = tmp_path / "in.jsonl"
    write_jsonl(inp, [row("d1", "雨巷", "作者", "戴望舒"), row("d1", "雨巷", "主角", "戴望舒")])
    before = inp.read_bytes()
    for extra in (
        ["--out", str(inp)],
        ["--out", str(tmp_path / "k.jsonl"), "--rejected", str(tmp_path / "k.jsonl")],
        ["--out", str(tmp_path / "k.jsonl"), "--rejected", str(inp)],
    ):
        assert main(["filter", str(inp), "--model", str(model_dir), "--no-progress", *extra]) == 2
        assert inp.read_bytes() == before and not (tmp_path / "k.jsonl").exists()
