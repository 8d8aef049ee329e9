"""The calibrated decision: a logistic regression over grounding features, decision.json, p_correct in filter."""

import numpy as np
import pytest
import torch

from tests.test_verifier.test_filter import row
from verifier.decision import GROUNDING_FEATURES, DecisionModel, fit_decision, grounding_features
from verifier.io import read_jsonl, write_jsonl
from verifier.model.encoder import TextEncoder
from verifier.model.fusion import FusionConfig, LateFusionVerifier
from verifier.schema import GoldRecord, ScoredCandidate, Triple


def test_features_and_a_fit_that_orders_and_calibrates(tmp_path):
    x = grounding_features(
        ["雨巷是戴望舒写的"] * 2,
        ["雨巷", "徐志摩"],
        ["戴望舒", "戴望舒"],
        ["作者", "写作"],
        np.array([0.9, 0.5]),
        {"作者"},
        [False, True],
        probability=True,
    )
    assert x.shape == (2, len(GROUNDING_FEATURES))
    np.testing.assert_allclose(x[:, 1:], [[1, 1, 1, 0], [0, 0, 1, 1]])
    assert x[0, 0] == pytest.approx(np.log(9)) and x[1, 0] == pytest.approx(0.0)
    rng = np.random.default_rng(0)
    n = 2000
    feats = np.column_stack([rng.normal(size=n), rng.integers(0, 2, (n, 4))]).astype(float)
    logit = 1.5 * feats[:, 0] + 2.0 * feats[:, 1] - 2.5
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    dec = fit_decision(feats, y, "f1", "soft", "synthetic")
    assert dec.coef[0] > 1.0 and dec.coef[1] > 1.0 and abs(dec.coef[2]) < 0.5
    p = dec.p_correct(feats)
    assert abs(p.mean() - y.mean()) < 0.02  # calibrated in the large
    assert 0 < dec.tau1 < 1 and dec.tau2 is None and dec.n == n
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
    assert dec is not None and dec.positives == 12 and dec.n == 36 and dec.label_mode == "soft"
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
