"""Results experiments 1 and 2 on the processed DuIE dev halves (issue #7): trained verifiers, a second test set.

The 2,000-line dev subset that ``cacre_duie.py`` tests on was selected from the official dev in an unknown way
(../shared/data/README.md); the two processed halves are the official dev's lines with at most 78 BERT tokens,
shuffled (numpy seed 2019) and split 50/50 (7,299 + 7,298 sentences). This script builds ``perturb.v1`` test
groups from the chosen halves exactly as ``cacre_duie.py`` builds its test groups (same lexicon, same entity
pool from the first 5,000 train sentences, same seed) and scores already trained verifiers on them: nothing is
trained, tuned or calibrated here. The mixed set of experiment 2 is drawn from these groups and filtered at
the thresholds each run calibrated on its own validation groups (``best/thresholds.json`` and the
validation-mix thresholds in its ``metrics.json``).

    python -m experiments.dev_short --out runs/results/dev_short \\
        --models cacre=runs/results/duie_e2/cacre cacre-att=runs/results/duie_e3/cacre-att [--halves 1 2]

Writes ``<out>/groups/test.jsonl`` and, per model, ``<out>/<name>/metrics.json`` and ``scores.npz``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import (
    TABLE3_DEEPSEEK,
    labelled,
    mixed_set,
    peak_rss_mib,
    prf_of,
    score_arrays,
    view_aucs,
)


def make_test_groups(out: Path, halves: list[int], train_sentences: int, seed: int, limit: int | None) -> Path:
    """perturb.v1 groups of the chosen halves (the first ``limit`` sentences of each, all by default); entity
    substitutions from the training sentences only. Resumes a cut-off generation."""
    from generation.base import run_generation
    from generation.perturb import EntityPool, PerturbConfig, PerturbGenerator
    from verifier.data.catalog import load_split
    from verifier.lexicon import lexicon_for

    path = out / "groups" / "test.jsonl"
    docs = [d for h in halves for d in list(load_split("duie", f"dev_short_half{h}"))[:limit]]
    pool = EntityPool().add(list(load_split("duie", "train"))[:train_sentences])
    gen = PerturbGenerator(lexicon_for("duie", "zh"), pool, PerturbConfig(seed=seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(run_generation(gen, docs, path, progress=False))
    return path


def sorted_groups(path: Path) -> list[Any]:
    """Groups in a fixed order (by id), whatever order the generator finished them in."""
    from verifier.data.groups import read_groups

    groups, _ = read_groups(path)
    return sorted(groups, key=lambda g: g.group_id)


def score_model(name: str, run: Path, encoder: Any, groups: list[Any], out: Path, seed: int) -> dict[str, Any]:
    from safetensors.torch import load_file

    from verifier.config import TrainConfig
    from verifier.io import write_json
    from verifier.train import build_model

    cfg = TrainConfig(**json.loads((run / "config.resolved.json").read_text(encoding="utf-8")))
    model = build_model(cfg, encoder=encoder)
    model.load_state_dict(load_file(str(run / "best" / "model.safetensors")))
    model.eval()
    trained = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    tau1, tau2 = trained["calibration"]["tau1"], trained["calibration"]["tau2"]
    mix1, mix2 = trained["mixed_table3"]["val_mix_thresholds"]
    t0 = time.perf_counter()
    sc = model.group_scores(groups, batch_size=32)
    wall = time.perf_counter() - t0
    s_st, s_tt, y = labelled(sc, "anchor")
    idx = mixed_set(sc, TABLE3_DEEPSEEK, seed)
    n_gold = len(sc.text_pos)

    def after(t1: float, t2: float) -> dict[str, float]:
        from verifier.decision import Thresholds

        return prf_of(Thresholds(tau1=t1, tau2=t2).gate(s_st[idx], s_tt[idx])[0], y[idx], n_gold)

    n = len(sc.text_pos) + len(sc.text_neg)
    metrics = {
        "model": str(run),
        "groups": len(groups),
        "test": view_aucs(sc),
        "mixed_table3": {
            "candidates": len(idx),
            "gold": n_gold,
            "before": prf_of(np.ones(len(idx), dtype=bool), y[idx], n_gold),
            "after_val_groups_thresholds": after(tau1, tau2),
            "val_groups_thresholds": [tau1, tau2],
            "after_val_mix_thresholds": after(mix1, mix2),
            "val_mix_thresholds": [mix1, mix2],
        },
        "cost": {
            "scoring_s": round(wall, 1),
            "triples_per_s": round(n / wall, 1),
            "peak_rss_mib": round(peak_rss_mib()),
        },
    }
    (out / name).mkdir(parents=True, exist_ok=True)
    write_json(out / name / "metrics.json", metrics)
    np.savez_compressed(out / name / "scores.npz", **score_arrays("test", sc))
    return metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/results/dev_short")
    ap.add_argument("--models", nargs="+", required=True, help="NAME=RUN_DIR (a cacre_duie.py variant directory)")
    ap.add_argument("--halves", nargs="+", type=int, default=[1, 2], choices=[1, 2])
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--train-sentences", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--limit", type=int, help="only the first N sentences of each half (smoke runs)")
    args = ap.parse_args()
    out = Path(args.out)
    models = dict(m.split("=", 1) for m in args.models)
    t0 = time.perf_counter()
    groups = sorted_groups(make_test_groups(out, args.halves, args.train_sentences, args.seed, args.limit))
    print(f"{len(groups)} test groups from halves {args.halves} in {time.perf_counter() - t0:.0f} s", flush=True)
    from verifier.model.encoder import TextEncoder

    encoder = TextEncoder.from_name(args.encoder)
    encoder.freeze_bottom(99)
    encoder.enable_state_cache()  # every model reads the same frozen states: each sequence is encoded once
    for name, run in models.items():
        m = score_model(name, Path(run), encoder, groups, out, args.seed)
        t, mx = m["test"], m["mixed_table3"]
        b, a, am = mx["before"], mx["after_val_groups_thresholds"], mx["after_val_mix_thresholds"]
        print(
            f"{name:10s} text AUC {t['text_auc']:.3f} gold text AUC {t['gold_text_auc']:.3f} anchor AUC "
            f"{t['anchor_auc'] or float('nan'):.3f} | mixed P/R/F1 {b['precision']:.3f}/{b['recall']:.3f}/{b['f1']:.3f}"
            f" -> {a['precision']:.3f}/{a['recall']:.3f}/{a['f1']:.3f} (val groups), "
            f"{am['precision']:.3f}/{am['recall']:.3f}/{am['f1']:.3f} (val mix) | {m['cost']['scoring_s']:.0f} s",
            flush=True,
        )
    (out / "args.json").write_text(json.dumps(vars(args), indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
