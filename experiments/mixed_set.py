"""Experiment 2 without gold in the triple view: the mixed candidate set scored as the filter scores candidates.

``cacre_duie.py`` computes S_tt inside each group: a negative against the group's anchor (the gold triple), the
anchor against the group's positive (its paraphrase). That is the paper's anchor view (Figures 2-3) but not
what a filter can do with an LLM candidate, for which no gold triple exists: there S_tt compares the candidate
with its own *lexicon view* (a synonym relation, else the inverse; ``verifier.filter.lexicon_view``). This
script rebuilds the same mixed sets (same seed, same indices: gold triples in schema form plus typed negatives
at DeepSeek-V3's raw P 65.2 / R 80.1), scores every candidate with its lexicon view, calibrates (tau1, tau2) on
validation (all validation anchors and negatives, and a validation mix built the same way) and reports P/R/F1.
Writes ``<run>/mixed_lexicon_view.json``.

    python -m experiments.mixed_set --run runs/results/duie_e2/cacre --groups runs/results/duie_e2/groups

A second test set: ``--test-groups runs/results/dev_short/groups/test.jsonl --sort-test --name half1`` draws
the mix from the processed dev half groups of ``dev_short.py`` in its order (by group id), still calibrating
on the run's own validation groups; writes ``<run>/mixed_lexicon_view_half1.json``. The validation scores are
kept in ``<run>/val_lexicon_scores.npz`` and reused by later calls with the same weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from experiments.common import TABLE3_DEEPSEEK, mixed_set, prf_of


def gold_then_negatives(groups: list[Any]) -> list[Any]:
    """Candidate rows in ``labelled(sc, "anchor")`` order: every group's anchor, then every negative."""
    from verifier.schema import Candidate, Provenance

    prov = Provenance(generator="perturb.v1")

    def row(g: Any, t: Any, label: int) -> Candidate:
        return Candidate(doc_id=g.doc_id, text=g.text, lang=g.lang, triple=t, provenance=prov, label=label)

    return [row(g, g.anchor, 1) for g in groups] + [row(g, n, 0) for g in groups for n in g.negatives]


def score(model: Any, rows: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    from verifier.filter import score_rows

    s_st, s_tt = score_rows(model, rows, view_source="lexicon", lexicon="duie", batch_size=64)
    return np.asarray(s_st, dtype=float), np.asarray(s_tt, dtype=float)  # NaN S_tt: no view


def val_scores(model: Any, rows: list[Any], cache: Path, weights: Path) -> tuple[np.ndarray, np.ndarray]:
    """``score`` of the validation rows, read from ``cache`` when it was written for as many rows by the same
    weights file (size and modification time), else computed and written there."""
    stamp = np.asarray([len(rows), weights.stat().st_size, weights.stat().st_mtime_ns], dtype=np.int64)
    if cache.exists():
        z = np.load(cache)
        if "stamp" in z and np.array_equal(z["stamp"], stamp):
            return z["s_st"], z["s_tt"]
    s_st, s_tt = score(model, rows)
    np.savez_compressed(cache, s_st=s_st, s_tt=s_tt, stamp=stamp)
    return s_st, s_tt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="a variant directory of cacre_duie.py (holds best/)")
    ap.add_argument("--groups", required=True, help="the run's groups directory (val.jsonl, test.jsonl)")
    ap.add_argument("--test-groups", help="test groups file instead of <groups>/test.jsonl")
    ap.add_argument("--sort-test", action="store_true", help="order the test groups by id (as dev_short.py)")
    ap.add_argument("--name", help="write mixed_lexicon_view_<name>.json")
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    from eval.calibrate import calibrate
    from verifier.data.groups import read_groups
    from verifier.filter import load_for_inference
    from verifier.metrics import roc_auc

    best = Path(args.run) / "best"
    model = load_for_inference(str(best), "cpu")
    val_g, _ = read_groups(Path(args.groups) / "val.jsonl")
    test_g, _ = read_groups(Path(args.test_groups or Path(args.groups) / "test.jsonl"))
    if args.sort_test:
        test_g = sorted(test_g, key=lambda g: g.group_id)
    shape = {
        k: SimpleNamespace(text_pos=[0] * len(g), text_neg=[0] * sum(len(x.negatives) for x in g))
        for k, g in (("val", val_g), ("test", test_g))
    }
    t0 = time.perf_counter()
    val_rows = gold_then_negatives(val_g)
    v_st, v_tt = val_scores(model, val_rows, Path(args.run) / "val_lexicon_scores.npz", best / "model.safetensors")
    v_y = np.asarray([r.label for r in val_rows])
    idx = mixed_set(shape["test"], TABLE3_DEEPSEEK, args.seed)
    test_rows = gold_then_negatives(test_g)
    t_rows = [test_rows[i] for i in idx]
    s_st, s_tt = score(model, t_rows)
    y = np.asarray([r.label for r in t_rows])
    wall = time.perf_counter() - t0
    n_gold = len(test_g)
    groups_choice = calibrate(v_st, v_tt, v_y, "f1")
    v_idx = mixed_set(shape["val"], TABLE3_DEEPSEEK, args.seed)
    mix_choice = calibrate(v_st[v_idx], v_tt[v_idx], v_y[v_idx], "f1")

    def after(c: Any) -> dict[str, Any]:
        return prf_of(c.gate(s_st, s_tt)[0], y, n_gold) | {"tau1": c.tau1, "tau2": c.tau2}

    has_view = ~np.isnan(s_tt)
    out = {
        "run": args.run,
        "test_groups": args.test_groups or str(Path(args.groups) / "test.jsonl"),
        "view": "lexicon",
        "candidates": len(idx),
        "gold": n_gold,
        "with_a_lexicon_view": int(has_view.sum()),
        "before": prf_of(np.ones(len(y), dtype=bool), y, n_gold),
        "after_val_groups_calibration": after(groups_choice),
        "after_val_mix_calibration": after(mix_choice),
        "text_only_after_val_mix": prf_of(s_st >= mix_choice.tau1, y, n_gold),
        "auc_s_st": roc_auc(y, s_st),
        "auc_s_tt": roc_auc(y[has_view], s_tt[has_view]),
        "scoring_s": round(wall, 1),
    }
    name = f"mixed_lexicon_view_{args.name}.json" if args.name else "mixed_lexicon_view.json"
    Path(args.run, name).write_text(json.dumps(out, indent=2), encoding="utf-8")
    for k in ("before", "after_val_groups_calibration", "after_val_mix_calibration", "text_only_after_val_mix"):
        p = out[k]
        print(f"{k:32s} P {p['precision']:.3f} R {p['recall']:.3f} F1 {p['f1']:.3f}")
    print(f"AUC S_st {out['auc_s_st']:.3f}  S_tt {out['auc_s_tt']}  ({out['with_a_lexicon_view']} with a view)")


if __name__ == "__main__":
    main()
