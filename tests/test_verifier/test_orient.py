"""Direction by the verifier: the pure rule, and the filter / calibrate paths that turn triples around."""

import json

import numpy as np
import pytest
import torch

from tests.test_verifier.test_filter import row
from verifier import orient
from verifier.decision import DecisionModel
from verifier.filter import FilterConfig, load_for_inference, run_filter, score_rows
from verifier.io import read_jsonl, write_jsonl
from verifier.model.encoder import TextEncoder
from verifier.model.fusion import FusionConfig, LateFusionVerifier
from verifier.schema import GoldRecord, ScoredCandidate, Triple


def test_reverse_exchanges_head_tail_types_and_spans():
    t = Triple(head="a", relation="r", tail="bb", head_type="X", tail_type="Y", head_span=(0, 1), tail_span=(2, 4))
    r = t.reversed()
    assert (r.head, r.relation, r.tail, r.head_type, r.tail_type) == ("bb", "r", "a", "Y", "X")
    assert (r.head_span, r.tail_span) == ((2, 4), (0, 1)) and r.reversed() == t


def test_choose_needs_the_reverse_to_win_by_more_than_the_margin():
    s, rev = np.array([0.5, 0.5, 0.5, 0.5]), np.array([0.4, 0.6, 0.7, 0.71])
    assert orient.choose(s, rev, 0.0).tolist() == [False, True, True, True]
    assert orient.choose(s, rev, 0.2).tolist() == [False, False, False, True]


def test_duplicates_keep_the_best_scored_copy_and_ignore_unkeyed_rows():
    keys = ["a", "b", "a", None, None, "a"]
    dup = orient.duplicates(keys, np.array([0.1, 0.5, 0.9, 0.0, 0.0, 0.9]))
    assert dup.tolist() == [True, False, False, False, False, True]


@pytest.fixture
def fusion_dir(tiny_encoder, tmp_path_factory):
    torch.manual_seed(0)
    m = LateFusionVerifier(
        FusionConfig(encoder=str(tiny_encoder), projection_dim=16, fusion_layers=1),
        TextEncoder.from_name(str(tiny_encoder)),
    )
    d = tmp_path_factory.mktemp("fusion")
    m.save_pretrained(d)
    (d / "thresholds.json").write_text(json.dumps({"tau1": -1.0, "tau2": -1.0}), encoding="utf-8")
    return d


def test_filter_turns_a_row_around_exactly_where_the_reverse_scores_higher(fusion_dir, tmp_path):
    rows = [
        row("d1", "雨巷", "作者", "戴望舒"),
        row("d1", "戴望舒", "作者", "雨巷"),  # both directions of one fact: one of them must end a duplicate
        row("d2", "诗人", "主演", "雨巷"),
        row("d3", "雨巷", "作者", "戴望舒", role="anchor", gid="g"),  # generator groups are never turned around
    ]
    inp = tmp_path / "in.jsonl"
    write_jsonl(inp, rows)
    model = load_for_inference(str(fusion_dir), "cpu")
    s, _ = score_rows(model, rows)
    s_rev, _ = score_rows(model, [r.model_copy(update={"triple": r.triple.reversed()}) for r in rows])
    cfg = FilterConfig(
        input=str(inp),
        model=str(fusion_dir),
        out=str(tmp_path / "k.jsonl"),
        rejected=str(tmp_path / "r.jsonl"),
        orient=True,
        orient_margin=0.0,
        progress=False,
    )
    summary = run_filter(cfg, model)
    out = {}
    for r in list(read_jsonl(tmp_path / "k.jsonl", ScoredCandidate)) + list(
        read_jsonl(tmp_path / "r.jsonl", ScoredCandidate)
    ):
        out[(r.doc_id, (r.original or r.triple).head)] = r
    expected = [bool(b > a) for a, b in zip(s[:3], s_rev[:3], strict=True)] + [False]
    got = [orient.CHANGE in out[(r.doc_id, r.triple.head)].repairs for r in rows]
    assert got == expected and summary.turned_around == sum(expected)
    for r, flipped, a, b in zip(rows, got, s, s_rev, strict=True):
        sc = out[(r.doc_id, r.triple.head)]
        assert sc.s_st == pytest.approx(float(b if flipped else a), abs=1e-5)
        if flipped:
            assert sc.original == r.triple and (sc.triple.head, sc.triple.tail) == (r.triple.tail, r.triple.head)
    d1 = [out[("d1", "雨巷")], out[("d1", "戴望舒")]]
    assert d1[0].triple == d1[1].triple and sorted(x.reason or "keep" for x in d1) == ["duplicate", "keep"]
    # --no-orient scores the extractor's directions; the duplicate check still applies to identical rows only
    summary = run_filter(cfg.model_copy(update={"orient": False}), model)
    assert summary.turned_around == 0 and "duplicate" not in summary.rejected


def test_calibrate_records_the_margin_and_the_filter_follows_it(fusion_dir, tmp_path):
    from verifier.cli import main

    text = "《雨巷》是戴望舒的代表作，戴望舒是诗人。"
    both = [("雨巷", "戴望舒"), ("戴望舒", "雨巷")]
    rows = []
    for i in range(12):
        rows += [  # both directions of one fact: with margin 0 exactly one of the two is turned around
            row(f"d{i}", "雨巷", "作者", "戴望舒"),
            row(f"d{i}", "戴望舒", "作者", "雨巷"),
            row(f"d{i}", "雨巷", "主演", "徐志摩"),
        ]
    val, gold = tmp_path / "val.jsonl", tmp_path / "gold.jsonl"
    write_jsonl(val, rows)
    write_jsonl(
        gold,
        [
            GoldRecord(doc_id=f"d{i}", text=text, triples=[Triple(head=h, relation="作者", tail=t) for h, t in both])
            for i in range(12)
        ],
    )  # right in either direction, so the labels keep both classes whatever the random model turns around
    args = ["calibrate", "--model", str(fusion_dir), "--val", str(val), "--gold", str(gold), "--decision"]
    assert main([*args, "--label-mode", "soft", "--orient-margin", "0"]) == 0
    assert DecisionModel.load(fusion_dir).orient_margin == 0.0
    cfg = FilterConfig(input=str(val), model=str(fusion_dir), out=str(tmp_path / "k.jsonl"), progress=False)
    model = load_for_inference(str(fusion_dir), "cpu")
    s, _ = score_rows(model, rows)
    s_rev, _ = score_rows(model, [r.model_copy(update={"triple": r.triple.reversed()}) for r in rows])
    flips = int(orient.choose(s, s_rev, 0.0).sum())
    assert flips > 0 and run_filter(cfg, model).turned_around == flips
    assert main([*args, "--orient-margin", "-1"]) == 2  # a usage error, nothing written
    assert DecisionModel.load(fusion_dir).orient_margin == 0.0
    assert main([*args, "--label-mode", "soft"]) == 0  # auto: every margin (and none) fitted, the best F1 kept
    auto = DecisionModel.load(fusion_dir)
    assert set(auto.orient_f1) == {"off", "0", "0.05", "0.1", "0.2", "0.3", "0.5"}
    chosen = "off" if auto.orient_margin is None else f"{auto.orient_margin:g}"
    assert auto.orient_f1[chosen] == max(auto.orient_f1.values())
    assert main([*args, "--no-orient"]) == 0
    assert DecisionModel.load(fusion_dir).orient_margin is None
    assert run_filter(cfg, model).turned_around == 0
    on = cfg.model_copy(update={"orient": True, "orient_margin": 0.0})
    assert run_filter(on, model).turned_around == flips


def test_relabelling_keeps_a_rows_own_label_and_labels_a_turned_row_from_gold():
    from verifier.calibration import label_rows

    text = "《雨巷》是戴望舒的代表作，戴望舒是诗人。"
    gold = {"d": GoldRecord(doc_id="d", text=text, triples=[Triple(head="雨巷", relation="作者", tail="戴望舒")])}
    own = row("d", "雨巷", "主演", "徐志摩", label=1)  # a labelled row: its label stands
    turned = row("d", "戴望舒", "作者", "雨巷")
    turned = turned.model_copy(update={"triple": turned.triple.reversed()})  # as the filter turns it: no label
    assert [r.label for r in label_rows([own, turned], gold, "strict", None)] == [1, 1]
