import asyncio

from generation.perturb import CORRUPTIONS, EntityPool, PerturbConfig, PerturbGenerator
from verifier.data.catalog import load_relations, load_split
from verifier.lexicon import derive_lexicon, lexicon_for
from verifier.schema import GoldRecord, Triple


def gen_for(split: str, **cfg) -> tuple[PerturbGenerator, list[GoldRecord]]:
    recs = list(load_split("sample", split))
    return PerturbGenerator(lexicon_for("sample", split), EntityPool().add(recs), PerturbConfig(**cfg)), recs


def test_groups_have_anchor_positive_and_typed_negatives():
    gen, recs = gen_for("zh", n_negatives=5)
    rows = [r for rec in recs for r in asyncio.run(gen.generate(rec))]
    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(r.group_id, []).append(r)
    assert len(groups) == sum(len(r.triples) for r in recs)
    kinds = set()
    for g in groups.values():
        roles = [r.role for r in g]
        assert roles[:2] == ["anchor", "positive"] and roles.count("negative") >= 3
        anchor, positive = g[0], g[1]
        assert anchor.label == positive.label == 1 and all(r.label == 0 for r in g[2:])
        gold = {t.key() for t in next(rec for rec in recs if rec.doc_id == anchor.doc_id).triples}
        for neg in g[2:]:
            assert neg.triple.key() not in gold and neg.corruption in CORRUPTIONS
            kinds.add(neg.corruption)
        assert positive.triple.key() != anchor.triple.key()
    assert kinds == set(CORRUPTIONS)


def test_each_corruption_does_what_it_says():
    gen, _ = gen_for("zh")
    doc = GoldRecord(
        doc_id="x",
        text="歌曲《春天的约定》由何晓作词，吴凡作曲。",
        triples=[
            Triple(
                head="春天的约定", relation="作词", tail="何晓", head_type="歌曲", tail_type="人物", head_span=(3, 8)
            ),
            Triple(head="春天的约定", relation="作曲", tail="吴凡", head_type="歌曲", tail_type="人物"),
        ],
    )
    import random

    t, rng = doc.triples[0], random.Random(0)
    assert gen._swap(t, doc, rng).key() == ("何晓", "作词", "春天的约定")
    assert gen._confusable(t, doc, rng).relation in gen.lexicon.confusables("作词")
    assert gen._substitute(t, doc, rng).key() in {("春天的约定", "作词", "吴凡")} | {
        (h, "作词", "何晓") for h in gen.pool.choices("歌曲")
    }
    span = gen._span(t, doc, rng)
    assert span.relation == "作词" and (span.head != t.head or span.tail != t.tail)
    assert (span.head in doc.text or span.head in t.head) and not span.head.startswith("，")
    unsup = gen._unsupported(t, doc, rng)
    assert unsup.relation not in gen.lexicon.confusables("作词") and unsup.relation != "作词"


def test_deterministic_for_a_seed_and_order_independent():
    gen1, recs = gen_for("zh", seed=7)
    gen2, _ = gen_for("zh", seed=7)
    a = [r.model_dump() for rec in recs for r in asyncio.run(gen1.generate(rec))]
    b = [r.model_dump() for rec in reversed(recs) for r in asyncio.run(gen2.generate(rec))]
    key = lambda r: (r["group_id"], r["role"], r["triple"]["head"], r["triple"]["relation"], r["triple"]["tail"])  # noqa: E731
    assert sorted(a, key=key) == sorted(b, key=key)
    gen3, _ = gen_for("zh", seed=8)
    c = [r.model_dump() for rec in recs for r in asyncio.run(gen3.generate(rec))]
    assert c != a


def test_english_groups_from_a_derived_lexicon():
    gen, recs = gen_for("en")
    rows = [r for rec in recs for r in asyncio.run(gen.generate(rec))]
    assert {r.corruption for r in rows if r.corruption} == set(CORRUPTIONS)


def test_derived_lexicon_uses_aliases_and_inverses(shared_data):
    lex = derive_lexicon(load_relations("fewrel", shared_data), "fewrel.derived")
    assert "chancellor" in lex.relations["head of government"].synonyms
    assert lex.relations["follows"].inverses == ["followed by"]
    assert lex.confusables("follows")


def test_paraphrased_negatives_remove_the_schema_shortcut_and_keep_perturb_v1_draws():
    """Flaw 1 (docs/results.md): in perturb.v1 only positives leave the schema; paraphrased negatives leave it too."""
    v1, recs = gen_for("zh", n_negatives=5)
    para, _ = gen_for("zh", n_negatives=5, paraphrase_negatives=0.5)
    schema = set(v1.lexicon.relations)
    rows_v1 = [r for rec in recs for r in asyncio.run(v1.generate(rec))]
    rows_p = [r for rec in recs for r in asyncio.run(para.generate(rec))]
    assert len(rows_v1) == len(rows_p)
    outside = 0
    for a, b in zip(rows_v1, rows_p, strict=True):
        assert (a.group_id, a.role, a.corruption, a.label) == (b.group_id, b.role, b.corruption, b.label)
        if a.role != "negative":
            assert a.triple == b.triple  # anchor and positive untouched
        elif a.triple != b.triple:  # the same wrong fact, its relation a synonym
            assert b.triple.relation in v1.lexicon.relations[a.triple.relation].synonyms
            assert (b.triple.head, b.triple.tail) == (a.triple.head, a.triple.tail)
            outside += 1
    negs = [r for r in rows_v1 if r.role == "negative"]
    assert all(r.triple.relation in schema for r in negs)  # the shortcut of perturb.v1
    assert 0.3 * len(negs) < outside < 0.7 * len(negs)
    assert para.stats()["paraphrased_negatives"] == outside
