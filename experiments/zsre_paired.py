"""Does validation move the way test does? Paired seeds of bench.zsre run folders against a reference folder.

For every variant folder and run (a seed, or a seed and a fold of ``bench.zsre --val-folds``), the change of the
best validation macro F1 and of the test macro F1 against the reference run of the same name; counts the pairs
where both changed and moved the same way, and prints the mean paired change of the best validation macro F1 with
its standard error (sample sd / sqrt(pairs)): the figures rule 7 (docs/results/zsre22/rule7.txt) compares with
its bar. Reads finished runs' metrics.json only, of trained matchers (the untrained ``desc`` runs a folder may hold
have nothing to choose). A folder argument may join several folders with commas (``A,B``): their runs are pooled,
so that seeds run in two batches pair as one set (rule 13); a run name found twice is an error.

    python -m experiments.zsre_paired runs/z20/r3_m10 runs/z20/mg_m10 runs/z21/pu_m10
    python -m experiments.zsre_paired runs/z22/v1f_m10 runs/z22/v7f_m10      # rule 7: 5 seeds x 2 folds
    python -m experiments.zsre_paired --val-only runs/z22/v7f_m10 runs/z23/w25_m10 runs/z23/w50_m10   # rule 8
    python -m experiments.zsre_paired --val-only --figure choice_val_f1 runs/z24/v7_fresh_m10 runs/z24/v12_fresh_m10
    python -m experiments.zsre_paired --val-only --figure choice_val_f1 \
        runs/z24/v7_fresh_m10,runs/z24/v7_more_m10 runs/z24/v12_fresh_m10,runs/z24/v12_more_m10   # rule 13

``--bar MIN K --pairs N`` applies a rule's decision: a variant is adopted when it has exactly N pairs and its mean
paired validation change is at least MIN and at least K standard errors (rules 11-15 wrote that test inline).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def best_val_and_test(folders: str, figure: str = "val_f1") -> dict[str, tuple[float, float]]:
    """run -> (validation macro F1, test macro F1) of the trained runs under ``folders`` (one folder, or several
    joined with commas): the output's validation figure ``figure`` (``ZsreResult.val_f1``; with no --desc-weight,
    the best on the curve, which older runs record alone; or ``choice_val_f1``, the output on fresh validation
    sentences). A run is named by its seed and, with folds over relations, its fold (``s40``, ``s40-f1``)."""
    out: dict[str, tuple[float, float]] = {}
    for folder in folders.split(","):
        for f in sorted(Path(folder).glob("*/metrics.json")):
            r = json.loads(f.read_text(encoding="utf-8"))
            if r.get("model") == "desc":
                continue
            run = f.parent.name[f.parent.name.rindex("-s") + 1 :]
            if run in out:
                raise SystemExit(f"{f}: run {run} is also in an earlier folder of {folders}")
            val = r.get(figure)  # older runs record the curve alone
            if val is None and figure != "val_f1":
                raise SystemExit(f"{f}: no {figure} (rescore with --choice-val-per-relation)")
            out[run] = (val if val is not None else max(p["val_f1"] for p in r["validation"]), r["macro"]["f1"])
    return out


def decision(changes: list[float], minimum: float, k: float, pairs: int | None = None) -> str:
    """A rule's verdict on paired validation changes: adopted when the mean is at least ``minimum`` and at least
    ``k`` standard errors (sample sd / sqrt(pairs)); a pair count other than ``pairs`` is an error."""
    if pairs is not None and len(changes) != pairs:
        raise SystemExit(f"the rule needs {pairs} pairs, and {len(changes)} are here")
    mean = float(np.mean(changes))
    se = float(np.std(changes, ddof=1) / np.sqrt(len(changes))) if len(changes) > 1 else float("nan")
    adopted = mean >= minimum and mean >= k * se
    return (
        f"adopted {adopted} (pairs {len(changes)}, mean {mean:+.4f}, bar >= {minimum:.3f} and >= {k:g} SE {k * se:.4f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference")
    ap.add_argument("variants", nargs="+")
    ap.add_argument(
        "--val-only", action="store_true", help="print the validation figures alone (a choice made before test is read)"
    )
    ap.add_argument(
        "--figure",
        choices=["val_f1", "choice_val_f1"],
        default="val_f1",
        help="the validation figure: the kept checkpoint's best (val_f1) or the output on fresh sentences",
    )
    ap.add_argument(
        "--bar",
        nargs=2,
        type=float,
        metavar=("MIN", "K"),
        help="print a decision per variant: adopted when the mean change is >= MIN and >= K standard errors",
    )
    ap.add_argument("--pairs", type=int, help="with --bar: the number of pairs the rule needs (another is an error)")
    args = ap.parse_args()
    ref = best_val_and_test(args.reference, args.figure)
    same = both = 0
    for folder in args.variants:
        cells, dvs, dts = [], [], []
        runs = best_val_and_test(folder, args.figure)
        missing = sorted(set(runs) - set(ref))
        if missing:
            raise SystemExit(f"{folder}: runs {', '.join(missing)} have no reference run in {args.reference}")
        for run, (val, test) in sorted(runs.items()):
            dv, dt = val - ref[run][0], test - ref[run][1]
            dvs.append(dv)
            dts.append(dt)
            if abs(dv) > 1e-9 and abs(dt) > 1e-9:
                both += 1
                same += (dv > 0) == (dt > 0)
            cells.append(f"{run} val {dv:+.3f}" + ("" if args.val_only else f" test {100 * dt:+.1f}"))
        print(f"{folder}: " + "; ".join(cells))
        se = float(np.std(dvs, ddof=1) / np.sqrt(len(dvs))) if len(dvs) > 1 else float("nan")
        val = float(np.mean([v for v, _ in runs.values()]))
        test = "" if args.val_only else f"; mean test change {100 * np.mean(dts):+.2f}"
        print(f"  {len(dvs)} pairs: mean validation F1 {val:.4f}, mean validation change {np.mean(dvs):+.4f} "
              f"(standard error {se:.4f}, {np.mean(dvs) / se:+.2f} SE){test}")  # fmt: skip
        if args.bar:
            print(f"  {decision(list(dvs), *args.bar, args.pairs)}")
    if not args.val_only:
        print(f"validation and test moved the same way in {same} of {both} paired seeds where both changed")


if __name__ == "__main__":
    main()
