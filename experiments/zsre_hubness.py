"""Which test-time hubness correction? Chosen on validation relations, never on the test relations.

FewRel val_wiki (the 16 relations of ../shared/data): for each seed, ``random_split(relations, m, seed,
n_val)`` holds out ``n_val`` validation relations beside the m test ones; the untrained description matcher
(e5-small, no training, so nothing else can differ) classifies the validation relations' sentences among the
validation relations, and the canonical macro F1 and the largest share of predictions on one relation are
reported for each correction of ``generation.matching.common.correct_hubness``. The test relations are not read.

    python -m experiments.zsre_hubness --out runs/results/zsre_hubness.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from generation.matching.common import DescriptionMatcher, correct_hubness, relation_text
from generation.matching.zsre import cap_per_relation, load_dataset
from verifier.data.splits import random_split
from verifier.metrics import zero_shot_macro

MODES = ("none", "center", "csls")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--m", type=int, default=5, help="test relations (set aside, not read)")
    ap.add_argument("--n-val", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[40, 41, 42, 43, 44])
    ap.add_argument("--per-relation", type=int, default=100)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    examples, infos = load_dataset("fewrel", None, None)
    relations = sorted({e.relation_id for e in examples})
    matcher = DescriptionMatcher(a.encoder)
    rows: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    for seed in a.seeds:
        split = random_split(relations, a.m, seed, a.n_val)
        val = [e for e in examples if e.relation_id in set(split.val)]
        val = cap_per_relation(val, a.per_relation, seed)
        scores = matcher.scores(val, matcher.describe([infos[r] for r in split.val]))  # (N, n_val)
        gold = [e.relation_id for e in val]
        for mode in MODES:
            pred = [split.val[i] for i in correct_hubness(scores, mode).argmax(-1).tolist()]
            top = Counter(pred).most_common(1)[0][1] / len(pred)
            rows[mode].append({"seed": seed, "f1": zero_shot_macro(gold, pred).f1, "top_share": top})
            print(f"seed {seed} {mode:6s}: macro F1 {rows[mode][-1]['f1']:.4f}, largest share {top:.2f}", flush=True)
    summary = {
        m: {
            "f1_mean": float(np.mean([r["f1"] for r in v])),
            "f1_sd": float(np.std([r["f1"] for r in v], ddof=1)),
            "top_share_max": float(max(r["top_share"] for r in v)),
            "per_seed": v,
        }
        for m, v in rows.items()
    }
    summary["protocol"] = {
        "m": a.m,
        "n_val": a.n_val,
        "seeds": a.seeds,
        "per_relation": a.per_relation,
        "descriptions": relation_text.__name__,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=2) + "\n")
    for m in MODES:
        r = summary[m]
        print(f"{m}: F1 {r['f1_mean']:.4f} ± {r['f1_sd']:.4f}, max share {r['top_share_max']:.2f}")


if __name__ == "__main__":
    main()
