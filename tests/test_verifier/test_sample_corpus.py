"""The shipped sample corpus is well formed, uses DuIE's predicates with the schema's types, and its
entity mentions occur in the text."""

from verifier.data.catalog import load_relations, load_schema, load_split


def test_chinese_sample():
    schema = load_schema("sample")
    recs = list(load_split("sample", "zh"))
    assert len(recs) == 120 and len(schema) == 48
    preds = set()
    for r in recs:
        assert r.triples and r.lang == "zh"
        for t in r.triples:
            spec = schema[t.relation]
            preds.add(t.relation)
            assert (t.head_type, t.tail_type) == (spec.subject_type, spec.value_type)
            assert t.head_span and t.tail_span
            assert all(v in r.text for v in t.qualifiers.values())
            assert set(t.qualifiers) <= set(spec.object_type)
    assert len(preds) == 48
    assert len({r.text for r in recs}) == 120


def test_english_sample():
    rels = load_relations("sample")
    recs = list(load_split("sample", "en"))
    assert len(recs) == 60
    for r in recs:
        (t,) = r.triples
        assert t.relation_id in rels and t.relation == rels[t.relation_id].name
        assert r.text[slice(*t.head_span)] == t.head and r.text[slice(*t.tail_span)] == t.tail
