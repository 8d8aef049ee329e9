"""Loaders on small files written here in each dataset's real format (the real files are tested in
test_data_real.py when ../shared/data is present)."""

import json
from pathlib import Path

import pytest

from verifier.data.duie import load_duie_casrel, load_duie_official
from verifier.data.fewrel import load_fewrel
from verifier.data.paths import cache_data_dir, resolve_data_dir
from verifier.data.relations import RelationSpec, load_descriptions, load_duie_schema
from verifier.data.splits import load_alignre_split, load_codezsre_split, load_rematching_split, random_split
from verifier.data.wikizsl import load_wikizsl_relationprompt, load_wikizsl_zsbert
from verifier.io import InputError

SCHEMA = {
    "饰演": RelationSpec(
        predicate="饰演", subject_type="娱乐人物", object_type={"@value": "人物", "inWork": "影视作品"}
    ),
    "作者": RelationSpec(predicate="作者", subject_type="图书作品", object_type={"@value": "人物"}),
}


def write(p: Path, obj) -> Path:
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return p


def test_duie_official_complex_object_becomes_qualifiers(tmp_path: Path):
    line = {
        "text": "在《长河落日》中，许志远饰演韩烈。",
        "spo_list": [
            {
                "predicate": "饰演",
                "subject": "许志远",
                "subject_type": "娱乐人物",
                "object": {"@value": "韩烈", "inWork": "长河落日"},
                "object_type": {"@value": "人物", "inWork": "影视作品"},
            }
        ],
    }
    p = write(tmp_path / "train.json", json.dumps(line, ensure_ascii=False) + "\n")
    (rec,) = load_duie_official(p)
    t = rec.triples[0]
    assert (t.head, t.relation, t.tail) == ("许志远", "饰演", "韩烈")
    assert t.qualifiers == {"inWork": "长河落日"} and t.qualifier_types == {"inWork": "影视作品"}
    assert (t.head_type, t.tail_type) == ("娱乐人物", "人物")
    assert rec.text[t.head_span[0] : t.head_span[1]] == "许志远"
    assert rec.doc_id.endswith(":1") and rec.lang == "zh"


def test_duie_official_bad_spo_is_located(tmp_path: Path):
    ok = json.dumps({"text": "a", "spo_list": []})
    bad = json.dumps({"text": "b", "spo_list": [{"predicate": "作者", "subject": "x", "object": {}}]})
    p = write(tmp_path / "train.json", ok + "\n" + bad + "\n")
    with pytest.raises(InputError, match=r"train\.json:2: spo_list\[0\]\.object\.@value: expected"):
        list(load_duie_official(p))


def test_casrel_rows_group_back_into_complex_objects(tmp_path: Path):
    data = [
        {
            "text": "许志远在《长河落日》饰演韩烈，在《归途》饰演林峰。",
            "triple_list": [
                ["许志远", "饰演_inWork", "长河落日"],  # slot before its value row, as in the real files
                ["许志远", "饰演_@value", "韩烈"],
                ["许志远", "饰演_@value", "林峰"],
                ["许志远", "饰演_inWork", "归途"],
            ],
        }
    ]
    (rec,) = load_duie_casrel(write(tmp_path / "dev.json", data), SCHEMA)
    assert [(t.tail, t.qualifiers) for t in rec.triples] == [
        ("韩烈", {"inWork": "长河落日"}),
        ("林峰", {"inWork": "归途"}),
    ]
    assert rec.triples[0].head_type == "娱乐人物" and rec.triples[0].qualifier_types == {"inWork": "影视作品"}


def test_casrel_bad_row_is_located(tmp_path: Path):
    p = write(tmp_path / "dev.json", [{"text": "x", "triple_list": [["a", "b"]]}])
    with pytest.raises(InputError, match=r"dev\.json:1: triple_list\[0\]"):
        list(load_duie_casrel(p, SCHEMA))


def test_duie_schema_file(tmp_path: Path):
    p = write(
        tmp_path / "schema.json",
        '{"object_type": {"@value": "人物"}, "predicate": "作者", "subject_type": "图书作品"}\n',
    )
    assert load_duie_schema(p)["作者"].value_type == "人物"
    write(p, '{"object_type": {}, "predicate": "作者", "subject_type": "图书作品"}\n')
    with pytest.raises(InputError, match="object_type"):
        load_duie_schema(p)


def test_fewrel_spans_keep_sentence_casing(tmp_path: Path):
    data = {
        "P177": [
            {
                "tokens": ["The", "Cape", "Bridge", "crosses", "the", "Ohio", "River", "."],
                "h": ["cape bridge", "Q1", [[1, 2]]],
                "t": ["ohio river", "Q2", [[5, 6]]],
            }
        ]
    }
    rels = load_descriptions(write(tmp_path / "pid2name.json", {"P177": ["crosses", "obstacle crossed"]}))
    (rec,) = load_fewrel(write(tmp_path / "val.json", data), rels)
    t = rec.triples[0]
    assert (t.head, t.relation, t.relation_id, t.tail) == ("Cape Bridge", "crosses", "P177", "Ohio River")
    assert rec.text[slice(*t.tail_span)] == "Ohio River"


def test_fewrel_bad_positions_are_located(tmp_path: Path):
    data = {"P177": [{"tokens": ["a"], "h": ["a", "Q", [[0]]], "t": ["b", "Q", [[5]]]}]}
    with pytest.raises(InputError, match=r"P177\[0\]\.t: token positions"):
        list(load_fewrel(write(tmp_path / "v.json", data)))


def test_wikizsl_zsbert_format(tmp_path: Path):
    data = [
        {
            "tokens": ["Hyman", "Bass", "is", "a", "mathematician"],
            "vertexSet": [{"kbID": "Q1", "tokenpositions": [0, 1]}, {"kbID": "Q2", "tokenpositions": [4]}],
            "edgeSet": [{"kbID": "P106", "left": [0, 1], "right": [4]}],
        }
    ]
    (rec,) = load_wikizsl_zsbert(write(tmp_path / "wiki_all.json", data))
    assert rec.triples[0].key() == ("Hyman Bass", "P106", "mathematician")


def test_wikizsl_relationprompt_skips_unusable_triplets_when_asked(tmp_path: Path):
    good = {"tokens": ["A", "is", "B"], "head": [0], "tail": [2], "label": "occupation", "label_id": "P106"}
    bad = {**good, "head": []}
    p = write(tmp_path / "dev.jsonl", json.dumps({"triplets": [good]}) + "\n" + json.dumps({"triplets": [bad]}) + "\n")
    with pytest.raises(InputError, match=r"dev\.jsonl:2: triplets\[0\]"):
        list(load_wikizsl_relationprompt(p))
    skipped: list[str] = []
    recs = list(load_wikizsl_relationprompt(p, skipped=skipped))
    assert [len(r.triples) for r in recs] == [1, 0] and len(skipped) == 1 and ":2:" in skipped[0]


@pytest.mark.parametrize(
    ("content", "name", "desc", "aliases"),
    [
        (
            {"P6": "head of government is head of the executive power"},
            "head of government",
            "head of the executive power",
            [],
        ),
        ({"P6": ["head of government", "head of the executive"]}, "head of government", "head of the executive", []),
        (
            [{"relation": "P6", "label_name": "head of government", "description": "d", "aliases": ["mayor"]}],
            "head of government",
            "d",
            ["mayor"],
        ),
        (
            [
                {
                    "relation": "P6",
                    "description": ["head", "of", "government", "is", "the", "head"],
                    "h": ["town"],
                    "t": ["x"],
                }
            ],
            "head of government",
            "the head",
            [],
        ),
    ],
)
def test_description_formats(tmp_path: Path, content, name, desc, aliases):
    info = load_descriptions(write(tmp_path / "d.json", content))["P6"]
    assert (info.name, info.description, info.aliases) == (name, desc, aliases)


def test_split_files_and_random_split(tmp_path: Path):
    rm = load_rematching_split(
        write(tmp_path / "r.json", {"train": {"P1": 0, "P2": 1}, "eval": {"P3": 0}, "test": {"P4": 0}})
    )
    assert (rm.train, rm.val, rm.test, rm.m) == (["P1", "P2"], ["P3"], ["P4"], 1)
    al = load_alignre_split(write(tmp_path / "a.json", {"5": [{"train": {"P1": 0}, "test": {"P2": 0}}]}), 5, 0)
    assert al.test == ["P2"]
    cz = load_codezsre_split(
        write(tmp_path / "c.json", {"wiki": {"1": {"15": ["P2"]}}}), "wikizsl", 1, ["P1", "P2", "P3"]
    )
    assert cz.train == ["P1", "P3"]
    rels = [f"P{i}" for i in range(16)]
    s1, s2 = random_split(rels, 5, seed=40, n_val=2), random_split(rels, 5, seed=40, n_val=2)
    assert s1 == s2 and len(s1.test) == 5 and len(s1.val) == 2 and len(s1.train) == 9
    assert random_split(rels, 5, seed=41).test != s1.test
    with pytest.raises(ValueError):
        random_split(rels, 16, seed=1)


def test_random_split_validation_folds():
    """Folds over relations: the test relations stay, the validation blocks cover the rest without overlap, fold 0
    is the split without folds, and a fold beyond the last one is an error."""
    rels = [f"P{i}" for i in range(16)]
    base = random_split(rels, 10, seed=40, n_val=3)
    f0, f1 = (random_split(rels, 10, seed=40, n_val=3, val_fold=f) for f in (0, 1))
    assert f0 == base and f1.test == base.test
    assert set(f1.val) == set(base.train) and set(f1.train) == set(base.val)
    with pytest.raises(ValueError, match="2 folds"):
        random_split(rels, 10, seed=40, n_val=3, val_fold=2)


def test_data_dir_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VERIFIER_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("VERIFIER_DATA")
    monkeypatch.chdir(tmp_path)  # no ../shared/data beside cwd
    monkeypatch.setattr("verifier.data.paths._REPO_ROOT", tmp_path / "nowhere" / "repo")
    assert not (tmp_path.parent / "shared").exists()
    assert resolve_data_dir() == cache_data_dir()  # nothing beside cwd or the checkout: the user cache
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "shared")
    assert resolve_data_dir() == (tmp_path / "shared" / "data").resolve()
