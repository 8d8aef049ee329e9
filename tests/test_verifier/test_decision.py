"""The decision contracts: the one gate (thresholds, per relation, no-view policy), grounding features, decision.json,
p_correct in filter."""

import numpy as np
import pytest
import torch

from eval.calibrate import fit_decision
from tests.test_verifier.test_filter import row
from verifier.decision import GROUNDING_FEATURES, DecisionModel, Thresholds, grounding_features
from verifier.io import read_jsonl, write_jsonl
from verifier.model.encoder import TextEncoder
from verifier.model.fusion import FusionConfig, LateFusionVerifier
from verifier.schema import GoldRecord, ScoredCandidate, Triple


def test_threshold_edges_keep_equal_scores():
    keep, why = Thresholds(tau1=0.5, tau2=0.3).gate(np.array([0.5, 0.5, 0.49, 0.2]), np.array([0.3, 0.29, 0.3, 0.1]))
    assert keep.tolist() == [True, False, False, False]
    assert why == [None, "below_tau2", "below_tau1", "both"]


def test_missing_view_policy_and_an_s_tt_gate_that_is_off():
    s_tt = np.array([np.nan, np.nan])
    assert Thresholds(tau1=0.5, tau2=0.5).gate(np.array([0.9, 0.1]), s_tt)[0].tolist() == [True, False]
    rej = Thresholds(tau1=0.5, tau2=0.5, missing_view="reject")
    assert rej.gate(np.array([0.9, 0.1]), s_tt)[1] == ["below_tau2", "both"]
    off = Thresholds(tau1=0.5, tau2=None, missing_view="reject")
    assert off.gate(np.array([0.9, 0.1]), np.array([-1.0, np.nan]))[1] == [None, "below_tau1"]


def test_vectorised_equals_per_row():
    rng = np.random.default_rng(0)
    s1, s2 = rng.uniform(-1, 1, 500), rng.uniform(-1, 1, 500)
    s2[::7] = np.nan
    keep, why = Thresholds(tau1=0.1, tau2=-0.2).gate(s1, s2)
    for a, b, k, w in zip(s1, s2, keep, why, strict=True):
        ok1, ok2 = a >= 0.1, (np.isnan(b) or b >= -0.2)
        assert k == (ok1 and ok2)
        assert w == (None if k else "both" if not ok1 and not ok2 else "below_tau1" if not ok1 else "below_tau2")


def test_per_relation_tau1_override_and_files(tmp_path):
    thr = Thresholds(tau1=0.5, per_relation={"作者": 0.8}, min_relation_rows=30)
    keep, _ = thr.gate(np.array([0.6, 0.6, 0.9]), None, ["作者", "主演", "作者"])
    assert keep.tolist() == [False, True, True]
    flat = thr.override(tau1=0.55)  # an explicit --tau1 replaces every tau1
    assert flat.per_relation == {} and flat.gate(np.array([0.6]), None, ["作者"])[0].tolist() == [True]
    thr.save(tmp_path)
    assert Thresholds.load(tmp_path) == thr and Thresholds.load(tmp_path / "none") is None
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "thresholds.json").write_text('{"tau1": 0.1, "typo": 1}', encoding="utf-8")
    with pytest.raises(ValueError, match="typo"):
        Thresholds.load(tmp_path / "x")


def test_features_and_a_fit_that_orders_and_calibrates(tmp_path):
    text = "《雨巷》是戴望舒写的"
    schema = {"作者": ("图书作品", frozenset({"人物"}))}
    x = grounding_features(
        [text] * 3,
        ["雨巷", "徐志摩", "《雨巷》"],
        ["戴望舒", "戴望舒", "戴 望舒"],
        ["作者", "写作", "作者"],
        np.array([0.9, 0.5, 0.5]),
        schema,
        [False, True, False],
        probability=True,
        head_types=["图书作品", None, "人物"],
        tail_types=["人物", None, "人物"],
    )
    assert x.shape == (3, len(GROUNDING_FEATURES))
    f = {name: x[:, i].tolist() for i, name in enumerate(GROUNDING_FEATURES)}
    assert f["model_score"][0] == pytest.approx(np.log(9)) and f["model_score"][1] == pytest.approx(0.0)
    assert f["in_schema"] == [1, 0, 1] and f["head_in_text"] == [1, 0, 1] and f["tail_in_text"] == [1, 1, 0]
    assert f["tail_in_text_norm"] == [1, 1, 1] and f["head_in_text_norm"] == [1, 0, 1]
    assert f["type_match"] == [1.0, 0.5, 0.0]
    assert f["log_distance"][0] == pytest.approx(np.log1p(2))  # 》是 between 雨巷 and 戴望舒
    assert f["log_distance"][1] == pytest.approx(np.log1p(len(text)))  # 徐志摩 is not in the text
    assert f["repaired"] == [0, 1, 0]
    rng = np.random.default_rng(0)
    n, k = 2000, len(GROUNDING_FEATURES)
    feats = np.column_stack([rng.normal(size=n), rng.integers(0, 2, (n, k - 1))]).astype(float)
    logit = 1.5 * feats[:, 0] + 2.0 * feats[:, 1] - 2.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    dec = fit_decision(feats, y, "f1", "soft", "synthetic")
    assert dec.coef[0] > 1.0 and dec.coef[1] > 1.0 and abs(dec.coef[2]) < 0.5
    p = dec.p_correct(feats)
    assert abs(p.mean() - y.mean()) < 0.02  # calibrated in the large
    thr = dec.thresholds
    assert thr.score == "p_correct" and 0 < thr.tau1 < 1 and thr.tau2 is None and thr.n == n
    assert dec.explain(feats[:1], k=2)[0][0].startswith(("model_score", "in_schema"))
    dec.save(tmp_path)
    assert DecisionModel.load(tmp_path) == dec and DecisionModel.load(tmp_path / "none") is None
    with pytest.raises(ValueError, match="both correct and wrong"):
        fit_decision(feats, np.zeros(n), "f1")


def test_calibrate_decision_then_filter_writes_p_correct(tiny_encoder, tmp_path):
    from verifier.cli import main

    torch.manual_seed(0)
    model = LateFusionVerifier(
        FusionConfig(encoder=str(tiny_encoder), projection_dim=16, fusion_layers=1),
        TextEncoder.from_name(str(tiny_encoder)),
    )
    d = tmp_path / "model"
    model.save_pretrained(d)
    text = "《雨巷》是戴望舒的代表作，戴望舒是诗人。"
    rows = []
    for i in range(12):  # one right candidate per document, and wrong ones that the rules can tell apart
        doc = f"d{i}"
        rows += [
            row(doc, "雨巷", "作者", "戴望舒"),
            row(doc, "雨巷", "主演", "徐志摩"),
            row(doc, "诗人", "作品", "雨巷"),
        ]
    val = tmp_path / "val.jsonl"
    write_jsonl(val, rows)
    gold = tmp_path / "gold.jsonl"
    write_jsonl(
        gold,
        [
            GoldRecord(doc_id=f"d{i}", text=text, triples=[Triple(head="雨巷", relation="作者", tail="戴望舒")])
            for i in range(12)
        ],
    )
    assert (
        main(
            [
                "calibrate",
                "--model",
                str(d),
                "--val",
                str(val),
                "--gold",
                str(gold),
                "--decision",
                "--label-mode",
                "soft",
            ]
        )
        == 0
    )
    dec = DecisionModel.load(d)
    assert dec is not None and dec.thresholds.positives == 12 and dec.thresholds.n == 36 and dec.label_mode == "soft"
    out = tmp_path / "kept.jsonl"
    assert (
        main(
            [
                "filter",
                str(val),
                "--model",
                str(d),
                "--out",
                str(out),
                "--rejected",
                str(tmp_path / "r.jsonl"),
                "--no-progress",
            ]
        )
        == 0
    )  # no thresholds.json: decision.json decides
    kept = list(read_jsonl(out, ScoredCandidate))
    rej = list(read_jsonl(tmp_path / "r.jsonl", ScoredCandidate))
    assert {(r.triple.relation, r.triple.tail) for r in kept} == {("作者", "戴望舒")} and len(kept) == 12
    assert all(r.p_correct is not None and r.explanation for r in kept + rej)
    assert all(r.s_tt is None for r in kept + rej)  # the decision's gate has no tau2: no view is scored
    args = ["filter", str(val), "--model", str(d), "--out", str(tmp_path / "k2.jsonl"), "--no-progress"]
    assert main([*args, "--s-tt", "always"]) == 0
    both = list(read_jsonl(tmp_path / "k2.jsonl", ScoredCandidate))
    assert any(r.s_tt is not None for r in both) and [r.p_correct for r in both] == [r.p_correct for r in kept]
    assert min(r.p_correct for r in kept) > max(r.p_correct for r in rej)
    assert (
        main(
            [
                "eval",
                "--pred",
                str(out),
                "--gold",
                str(gold),
                "--candidates",
                str(out),
                str(tmp_path / "r.jsonl"),
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
    import json

    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert 0 <= metrics["calibration"]["ece"] <= 1 and (tmp_path / "ev" / "reliability.png").exists()
    inverse = [r for r in rej if r.repairs == ["relation:inverse"]]  # 诗人 / 作品 / 雨巷 -> 雨巷 / 作者 / 诗人
    assert inverse and inverse[0].original.relation == "作品" and inverse[0].triple.relation == "作者"


@pytest.mark.parametrize(
    "body, message",
    [
        ('{"tau1": NaN, "tau2": 0.1}', "tau1"),
        ('{"tau1": 5, "tau2": 0.1}', "outside"),
        ('{"tau1": 0.2, "tau2": -7}', "outside"),
        ('{"score": "p_correct", "tau1": -0.5}', "outside"),
        ('{"tau2": 0.1}', "tau1"),
    ],
)
def test_a_bad_thresholds_file_is_a_located_error_not_a_silent_gate(tmp_path, body, message):
    from verifier.io import InputError

    (tmp_path / "thresholds.json").write_text(body, encoding="utf-8")
    with pytest.raises(InputError, match=message) as e:
        Thresholds.load(tmp_path)
    assert "thresholds.json" in str(e.value)


def test_saving_new_weights_forgets_the_old_weights_thresholds(tiny_encoder, tmp_path):
    m = LateFusionVerifier(
        FusionConfig(encoder=str(tiny_encoder), projection_dim=8, fusion_layers=1),
        TextEncoder.from_name(str(tiny_encoder)),
    )
    m.save_pretrained(tmp_path)
    Thresholds(tau1=0.3, tau2=0.1).save(tmp_path)
    assert Thresholds.load(tmp_path) is not None
    m.save_pretrained(tmp_path)  # a retrain into the same folder
    assert Thresholds.load(tmp_path) is None and DecisionModel.load(tmp_path) is None


def test_calibrate_refuses_single_class_data_and_keeps_the_old_thresholds(tiny_encoder, tmp_path, capsys):
    from verifier.cli import main

    m = LateFusionVerifier(
        FusionConfig(encoder=str(tiny_encoder), projection_dim=8, fusion_layers=1),
        TextEncoder.from_name(str(tiny_encoder)),
    )
    d = tmp_path / "model"
    m.save_pretrained(d)
    good = Thresholds(tau1=0.3, tau2=0.1)
    good.save(d)
    val = tmp_path / "val.jsonl"
    write_jsonl(val, [row("d1", "雨巷", "主演", "徐志摩").model_copy(update={"label": 0})] * 3)
    assert main(["calibrate", "--model", str(d), "--val", str(val)]) == 2
    assert "0 of 3 candidates are right" in capsys.readouterr().err
    assert Thresholds.load(d) == good
    write_jsonl(val, [row("d1", "雨巷", "作者", "戴望舒").model_copy(update={"label": y}) for y in (0, 1)])
    assert main(["calibrate", "--model", str(d), "--val", str(val), "--objective", "recall@precision=2"]) == 2
    assert "--objective" in capsys.readouterr().err and Thresholds.load(d) == good
