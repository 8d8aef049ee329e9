"""How strongly should the decision's logistic regression be regularised? Cross-validated on calibration candidates.

For each C of ``eval.calibrate.C_GRID`` (and the fixed C = 1 of the first version), the calibration documents are
split in halves (``--repeats`` seeded splits, both directions), the regression is fitted on one half and its
p_correct scored on the other: log-loss and expected calibration error. Nothing here reads a test set; the C that
``fit_decision`` now picks by itself (``choose_c``, grouped 5-fold log-loss) is printed beside the table.

    python -m experiments.decision_c --model runs/v16/cpu1/best --val runs/v16/calib2/all/candidates.jsonl \
        --gold runs/v16/calib2/all/gold.jsonl --out runs/results/decision_c.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from eval.calibrate import C_GRID, choose_c
from experiments.common import calibration_features, calibration_parser, document_halves
from verifier.metrics import reliability


def main() -> None:
    a = calibration_parser(__doc__.splitlines()[0]).parse_args()
    d = calibration_features(a.model, a.val, a.gold, a.label_mode)
    x, y = d["x"], d["y"]
    table: dict[str, dict[str, float]] = {}
    for c in C_GRID:
        eces, losses = [], []
        for half in document_halves(d["docs"], a.repeats):
            for fit, test in ((half, ~half), (~half, half)):
                p = LogisticRegression(C=c, max_iter=5000).fit(x[fit], y[fit]).predict_proba(x[test])[:, 1]
                eces.append(reliability(y[test], p)[0])
                losses.append(log_loss(y[test], p, labels=[0, 1]))
        table[f"{c:g}"] = {"ece": float(np.mean(eces)), "log_loss": float(np.mean(losses)), "folds": len(eces)}
        print(f"C={c:g}: ECE {np.mean(eces):.4f}, log-loss {np.mean(losses):.4f}")
    chosen = choose_c(x, y, d["docs"].tolist())
    print(f"choose_c on all {len(y)} candidates (grouped 5-fold log-loss): C = {chosen:g}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({"by_c": table, "chosen": chosen, "rows": len(y)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
