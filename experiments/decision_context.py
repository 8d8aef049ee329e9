"""Do features of a candidate's document (its siblings' scores) improve the decision? Cross-validated on
calibration candidates only.

The model ranks candidates within a document worse than across documents (docs/results.md section 0: within-doc
AUC 0.775 against 0.889 pooled): a right candidate and its wrong in-schema, grounded siblings (a confusable
relation for the same pair, a wrong pairing) score alike. A candidate's score *relative to its siblings* is
information the pointwise features lack. Candidate context features (``verifier.decision.context_features``):

- ``gap_pair``: score minus the best score of the other candidates of the document on the same unordered
  (head, tail) pair (0 when it has none);
- ``gap_doc``: score minus the best score in the document (<= 0);
- ``log_doc_candidates``: log of the number of candidates the extractor produced for the document.

For each feature set the calibration documents are split in halves (``--repeats`` seeded splits, both directions);
the decision (C chosen by ``choose_c`` on the fitting half, tau1 for F1 against the fitting half's gold) is fitted
on one half and scored on the other: log-loss, ECE, p_correct AUC, and F1 against the other half's gold. Nothing
here reads a test set.

    python -m experiments.decision_context --model runs/v16/cpu6/best --val runs/v16/calib2/all/candidates.jsonl \
        --gold runs/v16/calib2/all/gold.jsonl --out runs/results/decision_context.json
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from eval.calibrate import fit_decision
from experiments.common import calibration_features, calibration_parser, document_halves
from verifier.decision import GROUNDING_FEATURES
from verifier.metrics import gold_positives, prf, reliability

CONTEXT_FEATURES = ("gap_pair", "gap_doc", "log_doc_candidates")
"""Features of a candidate's document, from its siblings' model scores (:func:`context_features`). Kept here, not in the
library: they did not earn a place in the decision (docs/results.md section 0b)."""


def context_features(docs: Sequence[str], heads: Sequence[str], tails: Sequence[str], score: np.ndarray) -> np.ndarray:
    """(N, len(CONTEXT_FEATURES)): per candidate, its model score minus the best score of the other candidates of
    its document on the same unordered (head, tail) pair (0 when none), its score minus the best score of its
    document (<= 0), and log(number of candidates of the document). Every candidate of a document must be in the
    call (the filter reads whole documents)."""
    s = np.asarray(score, dtype=float)  # (N,)
    by_doc: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        by_doc.setdefault(d, []).append(i)
    out = np.zeros((len(s), len(CONTEXT_FEATURES)))
    for idx in by_doc.values():
        best = max(s[i] for i in idx)
        for i in idx:
            pair = {heads[i], tails[i]}
            rivals = [s[j] for j in idx if j != i and {heads[j], tails[j]} == pair]
            out[i] = (s[i] - max(rivals) if rivals else 0.0, s[i] - best, math.log(len(idx)))
    return out


SETS: dict[str, tuple[str, ...]] = {
    "base": (),
    "+gap_pair": ("gap_pair",),
    "+gap_doc": ("gap_doc",),
    "+log_doc_candidates": ("log_doc_candidates",),
    "+all context": CONTEXT_FEATURES,
}


def main() -> None:
    a = calibration_parser(__doc__.splitlines()[0]).parse_args()
    d = calibration_features(a.model, a.val, a.gold, a.label_mode)
    x0, y, rows, gold = d["x"], d["y"], d["rows"], d["gold"]
    score = x0[:, GROUNDING_FEATURES.index("model_score")]
    ctx = context_features(
        [r.doc_id for r in rows], [r.triple.head for r in rows], [r.triple.tail for r in rows], score
    )  # (N, len(CONTEXT_FEATURES))
    table: dict[str, dict[str, float]] = {}
    halves = document_halves(d["docs"], a.repeats)
    base_f1: list[float] = []
    for name, extra in SETS.items():
        cols = [CONTEXT_FEATURES.index(f) for f in extra]
        x = np.concatenate([x0, ctx[:, cols]], axis=1)
        m: dict[str, list[float]] = {"log_loss": [], "ece": [], "auc": [], "f1_vs_gold": [], "kept_share": []}
        for half in halves:
            for fit in (half, ~half):
                test = ~fit
                fit_rows = [r for r, k in zip(rows, fit, strict=True) if k]
                g_fit, _ = gold_positives(fit_rows, gold)
                g_test, _ = gold_positives([r for r, k in zip(rows, test, strict=True) if k], gold)
                dec = fit_decision(x[fit], y[fit], "f1", a.label_mode, positives=g_fit, groups=d["docs"][fit].tolist())
                p = dec.p_correct(x[test])
                keep = p >= dec.thresholds.tau1
                right = int((keep & (y[test] == 1)).sum())
                m["log_loss"].append(log_loss(y[test], p, labels=[0, 1]))
                m["ece"].append(reliability(y[test], p)[0])
                m["auc"].append(roc_auc_score(y[test], p))
                m["f1_vs_gold"].append(prf(right, int(keep.sum()), g_test).f1)
                m["kept_share"].append(right / max(1, int(y[test].sum())))
        table[name] = {k: float(np.mean(v)) for k, v in m.items()} | {"folds": len(m["auc"])}
        if base_f1:
            gain = np.asarray(m["f1_vs_gold"]) - np.asarray(base_f1)
            table[name] |= {"f1_gain_folds_better": int((gain > 0).sum()), "f1_gain_folds_worse": int((gain < 0).sum())}
        else:
            base_f1 = list(m["f1_vs_gold"])
        print(name, json.dumps(table[name]))
    out = {"by_set": table, "rows": len(y), "right": int(y.sum()), "documents": len(set(d["docs"].tolist()))}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
