"""Does validation move the way test does? Paired seeds of bench.zsre run folders against a reference folder.

For every variant folder and seed, the change of the best validation macro F1 and of the test macro F1 against
the reference run of the same seed; counts the pairs where both changed and moved the same way. Reads finished
runs' metrics.json only (a report after the fact: it chooses nothing).

    python -m experiments.zsre_paired runs/z20/r3_m10 runs/z20/mg_m10 runs/z21/pu_m10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def best_val_and_test(folder: str) -> dict[int, tuple[float, float]]:
    """seed -> (best validation macro F1, test macro F1) of the runs under ``folder``."""
    out = {}
    for f in sorted(Path(folder).glob("*/metrics.json")):
        r = json.loads(f.read_text(encoding="utf-8"))
        out[r["seed"]] = (max(p["val_f1"] for p in r["validation"]), r["macro"]["f1"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reference")
    ap.add_argument("variants", nargs="+")
    args = ap.parse_args()
    ref = best_val_and_test(args.reference)
    same = both = 0
    for folder in args.variants:
        cells = []
        for seed, (val, test) in sorted(best_val_and_test(folder).items()):
            dv, dt = val - ref[seed][0], test - ref[seed][1]
            if abs(dv) > 1e-9 and abs(dt) > 1e-9:
                both += 1
                same += (dv > 0) == (dt > 0)
            cells.append(f"s{seed} val {dv:+.3f} test {100 * dt:+.1f}")
        print(f"{folder}: " + "; ".join(cells))
    print(f"validation and test moved the same way in {same} of {both} paired seeds where both changed")


if __name__ == "__main__":
    main()
