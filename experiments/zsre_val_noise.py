"""How much of a run's validation macro F1 is sentence sampling? A bootstrap over its validation sentences.

For each bench.zsre run folder, the kept checkpoint's validation answers (``predictions.jsonl``, part "val") are
resampled with replacement within each validation relation, and the macro F1 over the validation relations is
recomputed; prints the bootstrap sd per run and of the mean over runs (the rule's metric averages 5 seeds).
A report after the fact: it chooses nothing.

    python -m experiments.zsre_val_noise runs/z20/r3_m10 runs/z21/pu_m10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from verifier.metrics import zero_shot_macro


def bootstrap_val_f1(rows: list[dict], draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws,) validation macro F1 over the gold validation relations, sentences resampled per relation."""
    labels = sorted({r["gold"] for r in rows})
    by = {g: [r for r in rows if r["gold"] == g] for g in labels}
    out = np.empty(draws)
    for d in range(draws):
        sample = [rs[i] for rs in by.values() for i in rng.integers(0, len(rs), len(rs))]
        out[d] = zero_shot_macro([r["gold"] for r in sample], [r["relation"] for r in sample], labels).f1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    for folder in args.folders:
        sds, sims = [], []
        for f in sorted(Path(folder).glob("*/predictions.jsonl")):
            rows = [json.loads(x) for x in f.read_text(encoding="utf-8").splitlines() if x.strip()]
            boot = bootstrap_val_f1([r for r in rows if r["part"] == "val"], args.draws, rng)
            sds.append(float(boot.std(ddof=1)))
            sims.append(boot)
        mean_sd = float(np.mean(sims, axis=0).std(ddof=1))
        print(f"{folder}: validation F1 bootstrap sd per run {' '.join(f'{s:.3f}' for s in sds)}; "
              f"of the mean over {len(sds)} runs {mean_sd:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
