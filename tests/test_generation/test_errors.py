"""errors.v1: real LLM errors become negatives, labels follow eval's matching, relation strings do not tell."""

import asyncio
import subprocess
import sys

from generation.errors import ErrorGroupGenerator, ErrorGroupsConfig, llm_by_doc
from generation.perturb import EntityPool
from tests.test_generation.test_runner import check_generator_contract
from verifier.align import relation_classes, triple_matches
from verifier.data.catalog import load_split
from verifier.data.groups import read_groups
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.schema import Candidate, GoldRecord, Provenance, Triple

DOC = GoldRecord(
    doc_id="d1",
    text="歌曲《春天的约定》由何晓作词，吴凡作曲。",
    triples=[
        Triple(head="春天的约定", relation="作词", tail="何晓", head_type="歌曲", tail_type="人物"),
        Triple(head="春天的约定", relation="作曲", tail="吴凡", head_type="歌曲", tail_type="人物"),
    ],
)


def gen(llm=None, **cfg) -> ErrorGroupGenerator:
    recs = list(load_split("sample", "zh"))
    return ErrorGroupGenerator(
        lexicon_for("sample", "zh"), EntityPool().add([*recs, DOC]), llm, ErrorGroupsConfig(**cfg)
    )


def test_llm_errors_are_negatives_and_llm_matches_are_positives():
    llm = {
        "d1": [
            Triple(head="何晓", relation="作词", tail="春天的约定"),  # reversed: wrong
            Triple(head="春天的约定", relation="演唱", tail="吴凡"),  # wrong relation
            Triple(head="《春天的约定》", relation="作曲", tail="吴凡"),  # right under soft matching
        ]
    }
    g = gen(llm)
    rows = asyncio.run(g.generate(DOC))
    llm_negs = [r.triple for r in rows if r.corruption == "llm_negative"]
    assert {t.key() for t in llm_negs} == {t.key() for t in llm["d1"][:2]}  # each used once
    positives = [r.triple for r in rows if r.role == "positive"]
    assert llm["d1"][2] in positives  # the real surface form of a right candidate is the positive view
    rc = relation_classes(g.lexicon, "zh")
    for r in rows:
        right = any(triple_matches(r.triple, t, "soft", "zh", rc) for t in DOC.triples)
        assert right == (r.role != "negative"), r  # labels are eval's soft labels


def test_typed_negatives_include_wrong_pairings_and_never_a_soft_match():
    rows = asyncio.run(gen(n_negatives=6, paraphrase_negatives=1.0).generate(DOC))
    kinds = {r.corruption for r in rows if r.role == "negative"}
    assert "wrong_pairing" in kinds and "span_corruption" not in kinds  # a cut span is right under soft labels
    pairing = [r.triple for r in rows if r.corruption == "wrong_pairing"]
    assert all(t.head in DOC.text and t.tail in DOC.text for t in pairing)
    strict = asyncio.run(gen(label_mode="strict", n_negatives=6).generate(DOC))
    anchors = [r.triple.key() for r in strict if r.role == "anchor"]
    assert [r.triple.key() for r in strict if r.role == "positive"] == anchors  # a synonym is wrong under strict
    assert "span_corruption" in {r.corruption for r in strict}
    schema = set(lexicon_for("sample", "zh").relations)
    paraphrased = [r for r in rows if r.role == "negative" and r.triple.relation not in schema]
    assert paraphrased  # negatives leave the schema too: the relation string alone does not tell the label


def test_span_negatives_under_soft_labels_are_strictly_wrong_and_soft_right():
    rows = asyncio.run(gen(n_negatives=6, span_negatives=True, paraphrase_negatives=0.0).generate(DOC))
    spans = [r.triple for r in rows if r.corruption == "span_corruption"]
    assert spans  # offered under soft labels too
    rc = relation_classes(lexicon_for("sample", "zh"), "zh")
    for t in spans:
        assert not any(triple_matches(t, g, "strict", "zh", rc) for g in DOC.triples)  # never an exact gold triple
    assert any(triple_matches(t, g, "soft", "zh", rc) for t in spans for g in DOC.triples)  # a cut/extended mention
    anchors = [r.triple.key() for r in rows if r.role == "anchor"]
    assert [r.triple.key() for r in rows if r.role == "positive"] != anchors  # the rest keeps soft labels: synonyms


def test_contract_and_cli_on_the_sample(tmp_path):
    recs = list(load_split("sample", "zh"))[:5]
    check_generator_contract(gen(), recs)
    llm_rows = tmp_path / "llm.jsonl"
    prov = Provenance(generator="llm.v1")
    rec = recs[0]
    t = rec.triples[0]
    wrong = Candidate(
        doc_id=rec.doc_id, text=rec.text, triple=t.model_copy(update={"head": t.tail, "tail": t.head}), provenance=prov
    )
    llm_rows.write_text(wrong.model_dump_json() + "\n", encoding="utf-8")
    assert llm_by_doc(read_jsonl(llm_rows, Candidate)) == {rec.doc_id: [wrong.triple]}
    out = tmp_path / "groups.jsonl"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "verifier.cli",
            "generate",
            "--generator",
            "errors.v1",
            "--data",
            "sample",
            "--split",
            "zh",
            "--limit",
            "5",
            "--llm-candidates",
            str(llm_rows),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "llm_negative=1" in r.stdout
    groups, stats = read_groups(out)
    assert stats.groups == sum(len(x.triples) for x in recs) and len(groups) == stats.groups
