import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

from verifier.align import match_document, norm_entity, relation_classes
from verifier.lexicon import lexicon_for
from verifier.metrics import prf, roc_auc, triple_prf, zero_shot_macro
from verifier.schema import Triple


def T(h, r, t):
    return Triple(head=h, relation=r, tail=t)


def test_normalisation():
    assert norm_entity("《红楼梦》") == "红楼梦" and norm_entity(" 曹 雪芹 ") == "曹雪芹"
    assert norm_entity("ＡＢＣ") == "ABC" and norm_entity("  The  Ohio River ", "en") == "the ohio river"


def test_strict_soft_and_one_to_one():
    gold = [T("红楼梦", "作者", "曹雪芹")]
    rc = relation_classes(lexicon_for("duie"))
    assert match_document([T("《红楼梦》", "作者", "曹雪芹")], gold, "strict")[0] == [0]
    assert match_document([T("红楼梦", "作者", "清代作家曹雪芹")], gold, "strict")[0] == [None]
    assert match_document([T("红楼梦", "作者", "清代作家曹雪芹")], gold, "soft", rel_classes=rc)[0] == [0]
    assert match_document([T("红楼梦", "创作者", "曹雪芹")], gold, "soft", rel_classes=rc)[0] == [0]  # synonym
    assert match_document([T("红楼梦", "主角", "曹雪芹")], gold, "soft", rel_classes=rc)[0] == [None]
    dup = match_document([T("红楼梦", "作者", "曹雪芹")] * 2, gold, "strict")[0]
    assert dup == [0, None]  # a gold triple is matched once


def test_micro_prf_equals_hand_counts_and_sklearn():
    gold = {"a": [T("x", "r", "y"), T("x", "s", "z")], "b": [T("u", "r", "v")]}
    pred = {
        "a": [T("x", "r", "y"), T("x", "r", "z")],
        "b": [T("u", "r", "v"), T("u", "s", "v")],
        "c": [T("p", "r", "q")],
    }
    overall, per_rel, correct = triple_prf(pred, gold, "strict", {})
    assert (overall.tp, overall.pred, overall.gold) == (2, 5, 3)
    assert overall.precision == pytest.approx(2 / 5) and overall.recall == pytest.approx(2 / 3)
    assert overall.f1 == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))
    assert per_rel["r"].tp == 2 and per_rel["s"].gold == 1 and per_rel["s"].tp == 0
    assert correct["a"] == [True, False]
    # the same numbers from sklearn over an explicit item list (pred items + missed gold items)
    y_true = [1, 0, 1, 0, 0, 1]  # five predictions, then the missed gold triple
    y_pred = [1, 1, 1, 1, 1, 0]
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average="binary")
    assert (p, r, f) == pytest.approx((overall.precision, overall.recall, overall.f1))
    assert prf(0, 0, 0).f1 == 0.0


def test_roc_auc_matches_sklearn_and_ignores_nan():
    y = np.array([0, 1, 1, 0, 1])
    s = np.array([0.1, 0.8, np.nan, 0.3, 0.6])
    assert roc_auc(y, s) == pytest.approx(roc_auc_score([0, 1, 0, 1], [0.1, 0.8, 0.3, 0.6]))
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_canonical_zero_shot_macro_by_hand():
    gold = ["A", "A", "B", "B", "C"]
    pred = ["A", "B", "B", "B", "A"]
    m = zero_shot_macro(gold, pred)
    # precision over predicted labels: A 1/2, B 2/3 -> 7/12; recall over gold labels: A 1/2, B 1, C 0 -> 1/2
    assert m.precision == pytest.approx(7 / 12) and m.recall == pytest.approx(0.5)
    assert m.f1 == pytest.approx(2 * (7 / 12) * 0.5 / (7 / 12 + 0.5))


def test_zero_shot_macro_over_given_labels_only():
    gold = ["A", "A", "B", "B"]
    pred = ["A", "X", "Y", "Z"]  # three answers outside the labels; B never predicted
    m = zero_shot_macro(gold, pred, ["A", "B"])
    # precision: A 1/1, B 0 (never predicted) -> 1/2; recall: A 1/2, B 0 -> 1/4
    assert m.precision == pytest.approx(0.5) and m.recall == pytest.approx(0.25)
    assert zero_shot_macro(gold, pred).precision == pytest.approx(1 / 4)  # canonical: X, Y, Z count as labels


def test_reliability_bins_and_ece_by_hand_and_against_sklearn():
    from sklearn.calibration import calibration_curve

    from verifier.metrics import reliability

    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.1, 0.8, 0.7, 0.2, 0.6])
    ece, bins = reliability(y, p)
    assert ece == pytest.approx((0.1 + 0.2 + 0.6 + 0.3 + 0.2 + 0.1) / 6)
    rng = np.random.default_rng(0)
    p = rng.uniform(size=5000)
    y = (rng.uniform(size=5000) < p).astype(int)
    ece, bins = reliability(y, p)
    rate, mean_p = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([b["rate"] for b in bins], rate, atol=1e-12)
    np.testing.assert_allclose([b["mean_p"] for b in bins], mean_p, atol=1e-12)
    assert ece < 0.03  # calibrated by construction


def test_gold_positives_count_the_gold_of_the_rows_documents_only():
    from verifier.metrics import gold_positives
    from verifier.schema import Candidate, GoldRecord, Provenance

    def gold(doc, *rels):
        return GoldRecord(doc_id=doc, text="甲乙丙", triples=[Triple(head="甲", relation=r, tail="乙") for r in rels])

    g = {"a": gold("a", "作者", "主演"), "b": gold("b", "作者"), "c": gold("c", "作者", "作者", "导演")}
    rows = [
        Candidate(
            doc_id=d,
            text="甲乙丙",
            triple=Triple(head="甲", relation="作者", tail="乙"),
            provenance=Provenance(generator="t"),
        )
        for d in ("a", "a", "b", "z")  # z has no gold record; c has no candidate row
    ]
    assert gold_positives(rows, g) == (3, {"作者": 2, "主演": 1})
