"""The real datasets in ../shared/data: figures must equal those in its README (skipped when absent)."""

import pytest

from verifier.data.catalog import load_relations, load_split
from verifier.data.splits import load_codezsre_split, load_rematching_split
from verifier.data.stats import split_stats

# (dataset, split) -> (sentences, main triples, slot-level triples, relations, skipped), from the README.
README_FIGURES = {
    ("duie", "train"): (5000, 8945, None, 46, 0),
    ("duie", "dev"): (2000, 3656, None, 45, 0),
    ("duie", "dev_short_half1"): (7299, None, 12577, None, 0),
    ("duie", "dev_short_half2"): (7298, None, 12515, None, 0),
    ("fewrel", "val_wiki"): (11200, 11200, 11200, 16, 0),
    ("wikizsl", "dev_5rel"): (5362, None, None, 5, None),
}


@pytest.mark.parametrize(("dataset", "split"), list(README_FIGURES))
def test_stats_equal_readme(shared_data, dataset: str, split: str):
    s = split_stats(dataset, split, shared_data)
    want = README_FIGURES[(dataset, split)]
    got = (s.sentences, s.triples, s.slot_triples, s.relations, s.skipped)
    for w, g in zip(want, got, strict=True):
        if w is not None:
            assert g == w, (dataset, split, got)
    assert s.partial == (dataset != "fewrel")


def test_wikizsl_sample_triplets_total(shared_data):
    s = split_stats("wikizsl", "dev_5rel", shared_data)
    assert s.triples + s.skipped == 5864  # README: 5,864 triplets; one has an empty head span


def test_duie_short_halves_cover_55_slot_labels_and_48_predicates(shared_data):
    labels, preds = set(), set()
    for half in ("dev_short_half1", "dev_short_half2"):
        for r in load_split("duie", half, shared_data):
            for t in r.triples:
                preds.add(t.relation)
                labels.add(f"{t.relation}_@value")
                labels.update(f"{t.relation}_{q}" for q in t.qualifiers)
                assert t.head_type and t.tail_type  # restored from the schema
    assert len(preds) == 48 and len(labels) == 55


def test_fewrel_relations_are_named(shared_data):
    rels = load_relations("fewrel", shared_data)
    rec = next(iter(load_split("fewrel", "val_wiki", shared_data)))
    assert rec.triples[0].relation == rels[rec.triples[0].relation_id].name != rec.triples[0].relation_id


def test_published_splits_are_disjoint_and_sized(shared_data):
    s = load_rematching_split(shared_data / "fewrel/splits/rematching_rel2id/fewrel_rel2id_10_40.json.gz")
    assert (len(s.train), len(s.val), len(s.test)) == (65, 5, 10)
    inv = list(load_relations("wikizsl", shared_data))
    cz = load_codezsre_split(shared_data / "wikizsl/splits/codezsre_official_data_divisions.json.gz", "wikizsl", 1, inv)
    assert cz.m == 15 and len(cz.train) == 113 - 15
