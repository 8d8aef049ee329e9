"""Confidence intervals for the ROC AUCs of experiment 1 (issue #7): paired group bootstrap over the test groups.

Reads the ``scores.npz`` that ``cacre_duie.py`` or ``dev_short.py`` wrote for each model (``test_anchor_*``:
gold triples then negatives; ``test_positive_*``: positives then negatives) and the groups file they scored,
in the same order (``--sort`` for ``dev_short.py``, which orders its groups by id). For the text AUC, the gold
text AUC and the anchor AUC it prints each model's 95 % percentile interval and every pairwise difference with
its interval and p-value (``eval.bootstrap``). Nothing is rescored.

    python -m experiments.auc_ci --groups runs/results/duie_e2/groups/test.jsonl \\
        --models cacre=runs/results/duie_e2/cacre/scores.npz cacre-att=runs/results/duie_e3/cacre-att/scores.npz \\
        --out runs/results/auc_ci_dev_subset.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eval.bootstrap import ScoredSet, paired_cluster_bootstrap

METRICS = {
    "text_auc": ("test_positive_s_st", "test_positive_label"),
    "gold_text_auc": ("test_anchor_s_st", "test_anchor_label"),
    "anchor_auc": ("test_positive_s_tt", "test_positive_label"),
}


def row_clusters(groups_file: str, sort: bool) -> list[str]:
    """Group id of every row of ``labelled(sc, ...)``: one correct triple per group, then every negative."""
    from verifier.data.groups import read_groups

    groups, _ = read_groups(groups_file)
    if sort:
        groups = sorted(groups, key=lambda g: g.group_id)
    return [g.group_id for g in groups] + [g.group_id for g in groups for _ in g.negatives]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", required=True, help="the test groups file the models were scored on")
    ap.add_argument("--sort", action="store_true", help="groups ordered by id (dev_short.py)")
    ap.add_argument("--models", nargs="+", required=True, help="NAME=scores.npz")
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    clusters = row_clusters(args.groups, args.sort)
    scores = {name: np.load(path) for name, path in (m.split("=", 1) for m in args.models)}
    out: dict[str, object] = {"groups": args.groups, "models": dict(m.split("=", 1) for m in args.models)}
    for metric, (s_key, y_key) in METRICS.items():
        sets = {}
        for name, z in scores.items():
            s, y = z[s_key], z[y_key]
            if len(s) != len(clusters):
                raise SystemExit(f"{name}: {len(s)} rows in {s_key}, {len(clusters)} in {args.groups}")
            if np.isfinite(s).all():  # the BCE baseline has no triple view (S_tt = inf)
                sets[name] = ScoredSet(y=y, score=s, cluster=clusters)
        rep = paired_cluster_bootstrap(sets, n_boot=args.n_boot, seed=args.seed)
        out[metric] = rep.model_dump()
        print(f"{metric} ({rep.clusters} groups, {rep.n_boot} replicates, {100 * rep.level:.0f} % intervals)")
        for name, iv in rep.models.items():
            print(f"  {name:12s} {iv.auc:.3f} [{iv.lo:.3f}, {iv.hi:.3f}]")
        for d in rep.differences:
            print(f"  {d.a} - {d.b}: {d.diff:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}] p={d.p:.3f}")
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    Path(args.out).write_text(json.dumps(out, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
