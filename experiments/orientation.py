"""Can the verifier fix a candidate's direction? Cross-validated on calibration candidates only.

On the 1,016 held-out calibration candidates of the 1.5B extractor, 99 wrong candidates are a gold triple with
head and tail exchanged, nearly as many as the 113 right ones (``python -m experiments.orientation``
prints the error census). A filter can only keep what the extractor wrote, so recall is pinned near the
extractor's; scoring both orientations of every candidate and keeping the better one can lift it.

For each policy the chosen rows are de-duplicated per document (the best-scored copy of a triple stays),
labelled against gold with eval's matching, turned into grounding features (a flipped row counts as repaired) and
evaluated as ``decision_context`` does: document halves, the decision fitted on one half (C by ``choose_c``,
tau1 for F1 against the fitting half's gold), F1 against the other half's gold. Nothing here reads a test set.

    python -m experiments.orientation --model runs/v16/cpu6r2/best --val runs/v16/calib2/all/candidates.jsonl \
        --gold runs/v16/calib2/all/gold.jsonl --out runs/results/orientation.json
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from eval.calibrate import fit_decision
from experiments.common import calibration_parser, document_halves
from verifier import orient
from verifier.metrics import gold_positives, prf, reliability


def dedupe(rows: list[Any], score: np.ndarray) -> np.ndarray:
    """Indices of the rows the filter keeps as distinct triples (``verifier.filter.duplicate_rows``)."""
    from verifier.filter import duplicate_rows

    return np.flatnonzero(~duplicate_rows(rows, score))


def evaluate(
    rows: list[Any],
    score: np.ndarray,
    repaired: list[bool],
    gold: dict[str, Any],
    a: Any,
    model: Any,
    extra: np.ndarray | None = None,
) -> dict[str, Any]:
    """Cross-validated decision on these rows (``extra``: (N, E) more feature columns beside the grounding ones)."""
    from verifier.calibration import label_rows
    from verifier.decision import grounding_features
    from verifier.filter import default_lexicons, is_probability, schema_of

    rows = label_rows([r.model_copy(update={"label": None}) for r in rows], gold, a.label_mode, None)
    y = np.asarray([r.label for r in rows], dtype=int)
    x = grounding_features(
        [r.text for r in rows],
        [r.triple.head for r in rows],
        [r.triple.tail for r in rows],
        [r.triple.relation for r in rows],
        score,
        schema_of(default_lexicons(None)),
        repaired,
        is_probability(model),
        [r.triple.head_type for r in rows],
        [r.triple.tail_type for r in rows],
    )
    if extra is not None:
        x = np.concatenate([x, extra], axis=1)
    docs = np.asarray([r.doc_id for r in rows])
    m: dict[str, list[float]] = {"ece": [], "auc": [], "f1_vs_gold": [], "right_kept": [], "precision": []}
    for half in document_halves(docs, a.repeats):
        for fit in (half, ~half):
            test = ~fit
            g_fit, _ = gold_positives([r for r, k in zip(rows, fit, strict=True) if k], gold)
            g_test, _ = gold_positives([r for r, k in zip(rows, test, strict=True) if k], gold)
            dec = fit_decision(x[fit], y[fit], "f1", a.label_mode, positives=g_fit, groups=docs[fit].tolist())
            p = dec.p_correct(x[test])
            keep = p >= dec.thresholds.tau1
            right = int((keep & (y[test] == 1)).sum())
            m["ece"].append(reliability(y[test], p)[0])
            m["auc"].append(roc_auc_score(y[test], p))
            res = prf(right, int(keep.sum()), g_test)
            m["f1_vs_gold"].append(res.f1)
            m["precision"].append(res.precision)
            m["right_kept"].append(right)
    out = {k: float(np.mean(v)) for k, v in m.items()}
    out |= {"rows": len(rows), "right": int(y.sum()), "f1_folds": m["f1_vs_gold"]}
    return out


def main() -> None:
    ap = calibration_parser(__doc__.splitlines()[0])
    ap.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    a = ap.parse_args()
    from verifier.align import default_relation_classes
    from verifier.calibration import repaired_labelled_rows
    from verifier.filter import load_for_inference, score_rows
    from verifier.io import read_jsonl
    from verifier.metrics import label_candidates
    from verifier.schema import Candidate, GoldRecord

    gold = {g.doc_id: g for g in read_jsonl(a.gold, GoldRecord)}
    rows, originals = repaired_labelled_rows(list(read_jsonl(a.val, Candidate)), gold, a.label_mode, None)
    rev = [r.model_copy(update={"triple": r.triple.reversed(), "label": None}) for r in rows]
    y = np.asarray([r.label for r in rows], dtype=int)
    y_rev = np.asarray(label_candidates(rev, gold, a.label_mode, default_relation_classes(None, "zh")), dtype=int)
    model = load_for_inference(a.model, "cpu")
    s, _ = score_rows(model, rows, lexicon=None)
    s_rev, _ = score_rows(model, rev, lexicon=None)
    one = (y + y_rev) == 1
    census = Counter(zip(y.tolist(), y_rev.tolist(), strict=True))
    picks = (s_rev > s) == (y_rev == 1)
    report: dict[str, Any] = {
        "candidates": len(rows),
        "census (orig, reversed) labels": {f"{k[0]}{k[1]}": v for k, v in sorted(census.items())},
        "orientation accuracy where exactly one is right": float(picks[one].mean()),
        "reversed-right pairs": int(((y == 0) & (y_rev == 1)).sum()),
        "auc orig score on orig labels": float(roc_auc_score(y, s)),
    }
    print(json.dumps(report))
    repaired = np.asarray([bool(f) for _, f in originals])
    policies: dict[str, Any] = {"extractor's direction": evaluate(rows, s, repaired.tolist(), gold, a, model)}
    print("base", json.dumps({k: v for k, v in policies["extractor's direction"].items() if k != "f1_folds"}))
    for margin in a.margins:
        flip = orient.choose(s, s_rev, margin)  # (N,)
        chosen = [rv if f else r for r, rv, f in zip(rows, rev, flip, strict=True)]
        score = np.where(flip, s_rev, s)
        idx = dedupe(chosen, score)
        c_rows, c_score, c_rep = [chosen[i] for i in idx], score[idx], (repaired | flip)[idx].tolist()
        name = f"better of both, margin {margin}"
        policies[name] = evaluate(c_rows, c_score, c_rep, gold, a, model) | {"flipped": int(flip.sum())}
        print(name, json.dumps({k: v for k, v in policies[name].items() if k != "f1_folds"}))
        gap = (np.where(flip, s_rev - s, s - s_rev))[idx][:, None]  # (M, 1): the chosen direction's lead
        name += ", + direction gap feature"
        policies[name] = evaluate(c_rows, c_score, c_rep, gold, a, model, gap) | {"flipped": int(flip.sum())}
        print(name, json.dumps({k: v for k, v in policies[name].items() if k != "f1_folds"}))
    report["policies"] = policies
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
