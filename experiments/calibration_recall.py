"""Which recall should calibration's F1 objective use? Cross-validated on the calibration candidates only.

The decision's tau1 is chosen to maximise F1 on labelled calibration candidates. Recall can be counted over the
candidates' right rows or over every gold triple of the calibration documents (what ``verifier eval`` reports).
This splits the calibration documents in two halves (``--repeats`` random splits), fits the decision and its tau
on one half each way, and scores the other half's kept rows against that half's gold, as eval would. Nothing
here reads a test set.

    python -m experiments.calibration_recall --model runs/v16/cpu1/best --val runs/v16/calib2/all/candidates.jsonl \
        --gold runs/v16/calib2/all/gold.jsonl --out runs/results/calibration_recall.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from eval.calibrate import fit_decision
from experiments.common import calibration_features, calibration_parser, document_halves
from verifier.metrics import gold_positives, prf


def main() -> None:
    a = calibration_parser(__doc__.splitlines()[0]).parse_args()
    d = calibration_features(a.model, a.val, a.gold, a.label_mode)
    x, y, rows, gold = d["x"], d["y"], d["rows"], d["gold"]
    results: dict[str, list[dict[str, float]]] = {"candidates": [], "gold": []}
    for half in document_halves(d["docs"], a.repeats):
        for fit_mask in (half, ~half):
            test = ~fit_mask
            fit_rows = [r for r, m in zip(rows, fit_mask, strict=True) if m]
            test_rows = [r for r, m in zip(rows, test, strict=True) if m]
            g_fit, _ = gold_positives(fit_rows, gold)
            g_test, _ = gold_positives(test_rows, gold)
            for name, positives in (("candidates", None), ("gold", g_fit)):
                dec = fit_decision(
                    x[fit_mask], y[fit_mask], "f1", a.label_mode, c=1.0, positives=positives
                )  # C fixed: this compares recall denominators only
                keep = dec.p_correct(x[test]) >= dec.thresholds.tau1
                right = int((keep & (y[test] == 1)).sum())
                got = prf(right, int(keep.sum()), g_test)
                results[name].append(
                    {
                        "tau1": dec.thresholds.tau1,
                        "f1_vs_gold": got.f1,
                        "precision": got.precision,
                        "kept_share_of_right": right / max(1, int(y[test].sum())),
                    }
                )
    summary: dict[str, object] = {
        k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} | {"folds": len(v)} for k, v in results.items()
    }
    diff = [g["f1_vs_gold"] - c["f1_vs_gold"] for g, c in zip(results["gold"], results["candidates"], strict=True)]
    summary["f1_gain_gold_minus_candidates"] = {
        "mean": float(np.mean(diff)),
        "folds_better": int(sum(d > 0 for d in diff)),
        "folds_worse": int(sum(d < 0 for d in diff)),
        "folds": len(diff),
    }
    summary["rows"], summary["right"], summary["documents"] = len(rows), int(y.sum()), len(set(d["docs"].tolist()))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
