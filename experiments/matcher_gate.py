"""Results experiment 5, second half (issue #7): zero-shot matcher candidates before and after the CACRE gate.

One FewRel val_wiki split (``--m`` unseen relations, ``--seed``): ZRCM and SDZRE are trained on the seen
relations (as in ``bench/zsre.py``) and emit one candidate per test entity pair (their best unseen relation);
a CACRE verifier is trained on ``perturb.v1`` groups built from the *seen* relations' sentences only (the test
relations and sentences never reach it), calibrated on held-out seen-relation documents, and gates the
candidates: kept when S_st >= tau1 and S_tt >= tau2 (S_tt against the lexicon view of the candidate, the view
the filter uses for rows without a group; the thresholds are calibrated with the same view).

Reports, per matcher: the candidates' precision / recall / F1 against the gold relation of each pair before
and after the gate, and the ROC AUC of S_st (and S_tt) for telling right candidates from wrong ones (free of
any threshold). Writes ``<out>/metrics.json``.

    python -m experiments.matcher_gate --out runs/results/zsre_gate [--m 5] [--seed 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np


def train_verifier(seen: list[Any], out: Path, args: argparse.Namespace) -> tuple[Any, Any, list[Any]]:
    """CACRE on perturb.v1 groups of the seen relations; returns the model, its thresholds and the val rows."""
    import torch

    from generation.perturb import EntityPool, PerturbGenerator
    from verifier.config import TrainConfig
    from verifier.data.groups import build_groups
    from verifier.io import write_jsonl
    from verifier.lexicon import lexicon_for
    from verifier.train import TrainSummary, build_model, split_groups, train

    lex = lexicon_for("fewrel")
    gen = PerturbGenerator(lex, EntityPool().add(seen))

    async def rows_of() -> list[Any]:
        return [row for r in seen for row in await gen.generate(r)]

    rows = asyncio.run(rows_of())
    groups, _ = build_groups(rows)
    _, val_g = split_groups(groups, 0.1, args.seed)
    val_docs = {g.doc_id for g in val_g}
    (out / "groups").mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "groups" / "train.jsonl", [r for r in rows if r.doc_id not in val_docs])
    write_jsonl(out / "groups" / "val.jsonl", [r for r in rows if r.doc_id in val_docs])
    cfg = TrainConfig(
        candidates=str(out / "groups" / "train.jsonl"),
        val=str(out / "groups" / "val.jsonl"),
        out=str(out / "cacre"),
        encoder=args.encoder,
        batch_size=32,
        max_steps=args.cacre_steps,
        eval_every=args.cacre_steps // 2,
        freeze_encoder_layers=99,
        seed=args.seed,
        lr=args.cacre_lr,
        progress=False,
    )
    torch.manual_seed(args.seed)
    model = build_model(cfg)
    best = out / "cacre" / "best" / "model.safetensors"
    if args.reuse_trained and best.exists():  # the same seeded groups; the verifier of an earlier run
        summary = TrainSummary.model_validate_json((out / "cacre" / "summary.json").read_text(encoding="utf-8"))
    else:
        summary = train(cfg, model=model)
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(out / "cacre" / "best" / "model.safetensors")))
    model.eval()
    # the correct rows are the anchors (schema form, like the matchers' candidates), not the paraphrased
    # positives: a positive's relation is outside the lexicon, so it has no lexicon view and S_tt would pass it
    # whatever tau2 is -- calibration would then learn "no view = correct" and reject every candidate
    val_rows = [r for r in rows if r.doc_id in val_docs and r.label is not None and r.role != "positive"]
    return model, summary, val_rows


def gate_figures(s_st: np.ndarray, s_tt: np.ndarray, y: np.ndarray, tau1: float, tau2: float, n_gold: int) -> dict:
    from verifier.decision import Thresholds
    from verifier.metrics import prf, roc_auc

    keep = Thresholds(tau1=tau1, tau2=tau2).gate(s_st, s_tt)[0]
    tt = ~np.isnan(s_tt)
    return {
        "candidates": len(y),
        "correct": int(y.sum()),
        "before": prf(int(y.sum()), len(y), n_gold).model_dump(),
        "after": prf(int((keep & (y == 1)).sum()), int(keep.sum()), n_gold).model_dump(),
        "after_text_only": prf(int(((s_st >= tau1) & (y == 1)).sum()), int((s_st >= tau1).sum()), n_gold).model_dump(),
        "auc_s_st": roc_auc(y, s_st),
        "auc_s_tt": roc_auc(y[tt], s_tt[tt]) if tt.any() else None,
        "rows_with_a_view": int(tt.sum()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/results/zsre_gate")
    ap.add_argument("--m", type=int, default=5)
    ap.add_argument("--seed", type=int, default=40)
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--matchers", nargs="+", default=["zrcm", "sdzre"])
    ap.add_argument("--steps", type=int, default=60, help="matcher training steps (bench/zsre.py's budget)")
    ap.add_argument("--freeze-encoder-layers", type=int, default=10)
    ap.add_argument("--train-per-relation", type=int, default=200)
    ap.add_argument("--test-per-relation", type=int, default=40)
    ap.add_argument("--cacre-steps", type=int, default=140, help="about 2 epochs of the seen groups at batch 32")
    ap.add_argument("--cacre-lr", type=float, default=1e-3)
    ap.add_argument("--reuse-trained", action="store_true", help="load the verifier and matchers of an earlier run")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from eval.calibrate import calibrate
    from generation.matching.generator import SdzreGenerator, ZrcmGenerator
    from generation.matching.zsre import ZsreConfig, cap_per_relation, make_split, run_zsre
    from verifier.data.catalog import load_split
    from verifier.filter import score_rows
    from verifier.io import write_jsonl

    records = [r for r in load_split("fewrel", "val_wiki") if r.triples and r.triples[0].relation_id]
    relations = sorted({r.triples[0].relation_id for r in records})
    base = ZsreConfig(m=args.m, seed=args.seed, encoder=args.encoder, desc_encoder=args.encoder)
    split = make_split(base, relations)
    rel = lambda r: r.triples[0].relation_id  # noqa: E731
    seen = cap_per_relation([r for r in records if rel(r) in split.train], args.train_per_relation, args.seed, rel)
    test = cap_per_relation([r for r in records if rel(r) in split.test], args.test_per_relation, args.seed + 1, rel)
    print(f"split {split.source}: {len(split.train)} seen, test relations {split.test}", flush=True)

    t0 = time.perf_counter()
    model, summary, val_rows = train_verifier(seen, out, args)
    train_s = time.perf_counter() - t0
    v_st, v_tt = score_rows(model, val_rows, view_source="lexicon", lexicon="fewrel")
    v_y = np.asarray([r.label for r in val_rows])
    choice = calibrate(v_st, v_tt, v_y, "f1")
    print(f"CACRE ({train_s:.0f} s): val best {summary.best}, tau1 {choice.tau1:.3f} tau2 {choice.tau2:.3f}",
          flush=True)  # fmt: skip

    results: dict[str, Any] = {
        "args": vars(args),
        "split": split.model_dump(),
        "verifier": {
            "train_s": round(train_s, 1),
            "train": summary.model_dump(include={"steps", "train_groups", "val_groups", "best"}),
            "thresholds": choice.model_dump(),
            "val_rows": len(val_rows),
        },
        "test_pairs": len(test),
        "matchers": {},
    }
    n_gold = len(test)  # one gold relation per test entity pair
    for name in args.matchers:
        cfg = base.model_copy(
            update={
                "model": name,
                "out": str(out / name),
                "max_steps": args.steps,
                "freeze_encoder_layers": args.freeze_encoder_layers,
                "max_train_per_relation": args.train_per_relation,
                "max_test_per_relation": args.test_per_relation,
            }
        )
        if args.reuse_trained and (out / name / "model").exists():
            m = json.loads((out / name / "metrics.json").read_text(encoding="utf-8"))
        else:
            m = run_zsre(cfg)
        gen = (SdzreGenerator if name == "sdzre" else ZrcmGenerator)(str(out / name / "model"))

        async def cands(g: Any = gen) -> list[Any]:
            return [row for r in test for row in await g.generate(r)]

        rows = asyncio.run(cands())
        gold = {r.doc_id: r.triples[0].relation_id for r in test}
        y = np.asarray([int(c.triple.relation_id == gold[c.doc_id]) for c in rows])
        s_st, s_tt = score_rows(model, rows, view_source="lexicon", lexicon="fewrel")
        labelled = [c.model_copy(update={"label": int(v)}) for c, v in zip(rows, y, strict=True)]
        write_jsonl(out / name / "candidates.jsonl", labelled)
        fig = gate_figures(np.asarray(s_st), np.asarray(s_tt, dtype=float), y, choice.tau1, choice.tau2, n_gold)
        fig["matcher_macro_f1"] = m.macro.f1
        results["matchers"][name] = fig
        b, a = fig["before"], fig["after"]
        print(
            f"{name}: {fig['candidates']} candidates, P/R/F1 {b['precision']:.3f}/{b['recall']:.3f}/{b['f1']:.3f}"
            f" -> {a['precision']:.3f}/{a['recall']:.3f}/{a['f1']:.3f}; AUC S_st {fig['auc_s_st']}, "
            f"S_tt {fig['auc_s_tt']}",
            flush=True,
        )
    (out / "metrics.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
