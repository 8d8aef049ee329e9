"""Zero-shot matching benchmark on the FewRel relations present in ../shared/data (val_wiki: 16 relations).
Prints figures; asserts nothing.

For each m (default 5) and seed (default 40-42): train on the 16 - m seen relations within a CPU step budget,
test on the m unseen ones; prints the canonical macro F1 (mean and sample standard deviation over seeds, and the
best seed, as the papers report) of ZRCM, SDZRE and the plain description-matching baseline side by side, the
largest share of one relation among a run's predictions, and inference sentences/s with precomputed description
embeddings.
Every model's scores get the same test-time hubness correction (``--hubness``, default ``center``: chosen on
validation relations, ``experiments/zsre_hubness.py``); ``--zrcm-paper`` runs ZRCM's literal reading instead of
the baseline-preserving options (identity start, mean sentence state with e5's prefix, cosine margin at scale
20, negatives through the positives' path, trainable marker rows). SDZRE runs with a 10x higher learning rate
than its paper's 2e-6 (``--sdzre-lr``), since the CPU budget allows a few hundred steps instead of 5 epochs over
44,800 sentences.

    python -m bench.zsre                                    # m = 5, seeds 40-42
    python -m bench.zsre --seeds 40 41 42 43 44 --ms 5 10   # the issue's protocol (m = 5 alone took 14 min 49 s)

Defaults (the budget of docs/results.md section 5): 60 steps of batch 8 with the lowest 10 encoder layers frozen,
200 training and 40 test sentences per relation.

``--frozen-markers`` keeps the marker rows frozen with the embeddings, so the matchers train on the lower-layer
cache (the 10 frozen layers computed once per sentence; compare ``train s`` and raise ``--steps`` for the same
minutes). ``--marker-init punct`` starts the marker rows as the rows of "@" (head) and "#" (tail), so that frozen
rows still carry which entity is the head.

``--aux-data duie wikizsl``: the matchers also train on DuIE's 46 relations and the Wiki-ZSL sample's 5 (seen only;
the baseline has nothing to train); ``--n-val 3``: 3 of the seen relations are held out for early stopping (the
split of the test relations stays the same, so the baseline's figures do too).

``--val-folds 2`` (with ``--n-val 3`` at m = 10): folds over relations; each seed trains twice, validating once on
each half of the 6 relations outside the test ones (the column ``val F1`` is the mean validation macro F1 of the
output scores over every run, the figure a choice between two configurations reads; with no ``--desc-weight``, the
kept checkpoint's, the best of its curve).

``--desc-weight W`` fuses the matchers' output scores with the untrained description matcher's (weight W; early
stopping and self-training read the matcher's own; with ``--fuse-in-training`` they read the fused scores too).
``--reuse-trained DIR`` rescores the models an earlier run with the same flags saved under DIR instead of training
(``train s`` is then the loading time).

``--test-data wikizsl --ms 5``: cross-dataset instead, train on all 16 FewRel relations and test on the 5
relations of the partial Wiki-ZSL sample (none of them is a FewRel val_wiki relation).
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from generation.matching.zsre import ZsreConfig, run_zsre

ABLATIONS: dict[str, dict[str, object]] = {
    "no_distiller": {"no_distiller": True},
    "no_contrastive": {"no_contrastive": True},
    "no_rns": {"zrcm_negatives": ["rens", "ens"]},
    "no_rens": {"zrcm_negatives": ["rns", "ens"]},
    "no_ens": {"zrcm_negatives": ["rns", "rens"]},
}
"""``--models sdzre:no_distiller zrcm:no_rens ...``: the issue's ablations (SDZRE without its distiller or its
contrastive term; ZRCM without one of its three negative samplers)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--desc-encoder", default="e5-small")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--train-per-relation", type=int, default=200)
    ap.add_argument("--test-per-relation", type=int, default=40)
    ap.add_argument("--val-per-relation", type=int, default=None, help="validation sentences (default: as test)")
    ap.add_argument("--ms", type=int, nargs="+", default=[5])
    ap.add_argument("--seeds", type=int, nargs="+", default=[40, 41, 42])
    ap.add_argument("--hubness", choices=["none", "center", "csls"], default="center")
    ap.add_argument(
        "--ensemble-with",
        default=None,
        help="a folder of an earlier bench run whose matcher of the same name (RUN/model) is averaged with each run's",
    )
    ap.add_argument(
        "--keywords",
        choices=["as_written", "typed"],
        default="as_written",
        help="SDZRE's head/tail abbreviations: RE-Matching's keywords as written, or without 'subject', 'object' ...",
    )
    ap.add_argument("--zrcm-paper", action="store_true", help="ZRCM's literal reading (random start, [CLS], ...)")
    ap.add_argument("--zrcm-input", choices=["markers", "appended"], default="markers", help="ZRCM's input form")
    ap.add_argument("--sdzre-lr", type=float, default=2e-5)
    ap.add_argument(
        "--sdzre-init",
        choices=["random", "identity"],
        default="random",
        help="SDZRE's context layer: random (the paper's) or the marker states' mean",
    )
    ap.add_argument("--sdzre-context", choices=["markers", "mean"], default="markers", help="SDZRE's context h_i")
    ap.add_argument(
        "--sdzre-distiller-grad",
        choices=["encoder", "distiller"],
        default="encoder",
        help="where SDZRE's reversed relation gradient goes: into the encoder (literal) or the distiller only",
    )
    ap.add_argument(
        "--marker-init",
        choices=["new", "punct"],
        default="new",
        help="the matchers' marker rows: new tokens (the papers') or the rows of '@' (head) and '#' (tail)",
    )
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--freeze-encoder-layers", type=int, default=10)
    ap.add_argument("--models", nargs="+", default=["desc", "zrcm", "sdzre"])
    ap.add_argument(
        "--frozen-markers",
        action="store_true",
        help="keep the entity-marker rows frozen with the embeddings, so that training runs on the lower-layer "
        "cache (only the unfrozen top layers computed per step)",
    )
    ap.add_argument("--test-data", choices=["wikizsl", "duie"], default=None)
    ap.add_argument("--aux-data", nargs="*", default=[], help="extra inventories, seen relations only (duie wikizsl)")
    ap.add_argument("--n-val", type=int, default=0, help="validation relations for early stopping (matchers)")
    ap.add_argument(
        "--val-folds",
        type=int,
        default=1,
        help="folds over relations: each seed runs the matchers once per block of --n-val relations outside the "
        "test ones (fold f validates on the f-th block; 1: fold 0 alone, as before)",
    )
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument(
        "--val-candidates",
        choices=["val", "val+test"],
        default="val",
        help="early stopping ranks validation sentences among these relations' descriptions",
    )
    ap.add_argument("--synthetic", default=None, help="synthetic sentences of the unseen relations (matchers)")
    ap.add_argument("--pseudo-label", type=int, default=0, help="self-training: pseudo-labels per relation (matchers)")
    ap.add_argument("--pseudo-pool", type=int, default=100, help="unlabelled pool sentences per relation")
    ap.add_argument("--pseudo-steps", type=int, default=None, help="steps of the self-training round (default --steps)")
    ap.add_argument("--pseudo-rounds", type=int, default=1, help="self-training rounds, each relabelling the pool")
    ap.add_argument("--sdzre-gam-t", type=float, default=None, help="SDZRE's Eq. 27 margin (default its config's)")
    ap.add_argument("--sdzre-gam-b", type=float, default=None, help="SDZRE's Eq. 28 margin (default its config's)")
    ap.add_argument(
        "--desc-weight",
        type=float,
        default=0.0,
        help="weight of the untrained description matcher in the matchers' output scores (0: the matcher alone)",
    )
    ap.add_argument(
        "--fuse-in-training",
        action="store_true",
        help="with --desc-weight, early stopping and the pseudo-labels read the fused scores too",
    )
    ap.add_argument(
        "--reuse-trained",
        default=None,
        help="rescore the matchers saved under this folder by an earlier run with the same flags (no training)",
    )
    ap.add_argument(
        "--choice-val-per-relation",
        type=int,
        default=None,
        help="also score each run's output on this many fresh sentences per validation relation (column fresh val)",
    )
    ap.add_argument("--out", default=None, help="keep the run folders here (<model>-m<m>-s<seed>)")
    args = ap.parse_args()
    zrcm_options = {
        "zrcm_init": "identity",
        "sentence_state": "mean",
        "similarity": "cosine",
        "scale": 20.0,
        "negative_path": "same",
    }
    rows = []
    for spec in args.models:
        if spec.partition(":")[0] not in ("desc", "zrcm", "sdzre") or spec.partition(":")[2] not in ("", *ABLATIONS):
            ap.error(f"--models {spec}: a model (desc zrcm sdzre), optionally :ablation ({' '.join(ABLATIONS)})")
    with tempfile.TemporaryDirectory() as tmp:
        td = args.out or tmp
        for m in args.ms:
            for spec in args.models:
                model, _, ablation = spec.partition(":")
                f1s, speeds, times, shares, firsts, vals, fresh = [], [], [], [], [], [], []
                folds = 1 if model == "desc" else args.val_folds  # the folds share the test relations
                for seed, fold in ((s, f) for s in args.seeds for f in range(folds)):
                    run = f"{spec.replace(':', '-')}-m{m}-s{seed}" + (f"-f{fold}" if folds > 1 else "")
                    reuse = args.reuse_trained if model != "desc" else None
                    cfg = ZsreConfig(
                        model=model,
                        data="fewrel",
                        test_data=args.test_data,
                        m=m,
                        seed=seed,
                        encoder=args.encoder,
                        desc_encoder=args.desc_encoder,
                        max_steps=args.steps,
                        max_train_per_relation=args.train_per_relation,
                        max_test_per_relation=args.test_per_relation,
                        max_val_per_relation=args.val_per_relation,
                        choice_val_per_relation=None if model == "desc" else args.choice_val_per_relation,
                        out=f"{td}/{run}",
                        trained_model=f"{reuse}/{run}/model" if reuse else None,
                        ensemble_with=f"{args.ensemble_with}/{run}/model"
                        if args.ensemble_with and model != "desc"
                        else None,
                        desc_weight=0.0 if model == "desc" else args.desc_weight,
                        fuse_in_training=model != "desc" and args.fuse_in_training,
                        lr=args.sdzre_lr if model == "sdzre" else None,
                        batch_size=args.batch_size,
                        freeze_encoder_layers=0 if model == "desc" else args.freeze_encoder_layers,
                        hubness=args.hubness,
                        keywords=args.keywords,
                        progress=False,
                        aux_data=[] if model == "desc" else args.aux_data,
                        n_val=args.n_val,
                        val_fold=fold,
                        eval_every=args.eval_every,
                        val_candidates=args.val_candidates,
                        synthetic=None if model == "desc" else args.synthetic,
                        pseudo_label=0 if model == "desc" else args.pseudo_label,
                        pseudo_pool=args.pseudo_pool,
                        pseudo_steps=args.pseudo_steps,
                        pseudo_rounds=args.pseudo_rounds,
                        **(zrcm_options if model == "zrcm" and not args.zrcm_paper else {}),
                        zrcm_input=args.zrcm_input,
                        **({} if model == "desc" else {"marker_init": args.marker_init}),
                        **(
                            {
                                "sdzre_init": args.sdzre_init,
                                "sdzre_distiller_grad": args.sdzre_distiller_grad,
                                "sdzre_context": args.sdzre_context,
                                "gam_t": args.sdzre_gam_t,
                                "gam_b": args.sdzre_gam_b,
                            }
                            if model == "sdzre"
                            else {}
                        ),
                        train_markers=model != "desc"
                        and not args.frozen_markers
                        and not (model == "zrcm" and args.zrcm_paper),
                        **ABLATIONS.get(ablation, {}),
                    )
                    r = run_zsre(cfg)
                    f1s.append(r.macro.f1)
                    shares.append(max(r.predicted_label_counts.values()) / max(1, r.test_examples))
                    speeds.append(r.inference_sentences_per_s)
                    times.append(r.train_s)
                    if r.pseudo:
                        firsts.append(r.pseudo.first_round_macro.f1)
                    best_val = r.val_f1  # the output's validation figure (the best of the curve unless fused)
                    if best_val is not None:
                        vals.append(best_val)
                    if r.choice_val_f1 is not None:
                        fresh.append(r.choice_val_f1)
                    print(
                        f"  m={m} {spec:5s} seed {seed}" + (f" fold {fold}" if folds > 1 else "") + ": "
                        f"macro F1 {r.macro.f1:.4f} "
                        f"(P {r.macro.precision:.4f} R {r.macro.recall:.4f}), "
                        f"{r.test_examples} test sentences, train {r.train_s} s"
                        + (f", best step {r.best_step}" if r.best_step is not None else "")
                        + (
                            f" (validation macro F1 {best_val:.4f} on {' '.join(r.split.val)})"
                            if best_val is not None
                            else ""
                        )
                        + (f", fresh validation macro F1 {r.choice_val_f1:.4f}" if r.choice_val_f1 is not None else "")
                        + (
                            f", {r.pseudo.test} pseudo-labels from step {r.pseudo.first_round_step} "
                            f"(precision {r.pseudo.precision_test:.3f}; first round's macro F1 "
                            f"{r.pseudo.first_round_macro.f1:.4f})"
                            if r.pseudo and r.pseudo.precision_test is not None
                            else ""
                        )
                        + "".join(
                            f"; round {n} from step {p.first_round_step}: precision {p.precision_test:.3f}, "
                            f"macro F1 there {p.first_round_macro.f1:.4f}"
                            for n, p in enumerate(r.later_rounds, 2)
                            if p.precision_test is not None
                        ),
                        flush=True,
                    )
                rows.append(
                    (
                        m,
                        spec,
                        float(np.mean(f1s)),
                        float(np.std(f1s, ddof=1)) if len(f1s) > 1 else 0.0,
                        max(f1s),
                        max(shares),
                        float(np.mean(speeds)),
                        float(np.mean(times)),
                        float(np.mean(vals)) if vals else np.nan,
                        float(np.mean(fresh)) if fresh else np.nan,
                    )
                )
                if firsts:  # the same runs before their self-training round
                    sd = float(np.std(firsts, ddof=1)) if len(firsts) > 1 else 0.0
                    rows.append((m, f"{spec} (1st round)", float(np.mean(firsts)), sd, max(firsts), *[np.nan] * 5))
    where = "FewRel val_wiki (16 relations)" + (f", tested on {args.test_data}" if args.test_data else "")
    print(
        f"\n{where}, encoder {args.encoder}, descriptions {args.desc_encoder}, "
        f"{args.steps} training steps (batch {args.batch_size}, lowest {args.freeze_encoder_layers} encoder layers "
        f"frozen{', marker rows frozen too: lower-layer cache' if args.frozen_markers else ''}"
        f"{'; marker rows from @ and #' if args.marker_init == 'punct' else ''}), "
        f"{args.test_per_relation} test sentences per relation"
        + (f"; extra seen inventories {' '.join(args.aux_data)}" if args.aux_data else "")
        + (f"; synthetic sentences of the unseen relations from {args.synthetic}" if args.synthetic else "")
        + (f"; {args.n_val} validation relations, best of every {args.eval_every} steps" if args.n_val else "")
        + (f", {args.val_folds} folds over relations per seed" if args.val_folds > 1 else "")
        + (
            f"; output fused with the description baseline at weight {args.desc_weight}"
            + (", early stopping and pseudo-labels too" if args.fuse_in_training else "")
            if args.desc_weight
            else ""
        )
        + (f"; models rescored from {args.reuse_trained}" if args.reuse_trained else "")
        + (
            f"; self-training: {args.pseudo_label} pseudo-labels per relation from {args.pseudo_pool} unlabelled "
            f"sentences each, {args.pseudo_steps or args.steps} more steps"
            + (f" per round, {args.pseudo_rounds} rounds" if args.pseudo_rounds > 1 else "")
            if args.pseudo_label
            else ""
        )
    )
    print(
        f"hubness correction: {args.hubness}; ZRCM: {'literal' if args.zrcm_paper else 'baseline-preserving'}; "
        f"SDZRE keywords: {args.keywords}"
    )
    cols = f"{'macro F1':>9} {'± sd':>7} {'best':>7} {'top share':>9} {'sent/s':>8} {'train s':>8} {'val F1':>7}"
    cols += f" {'fresh val':>9}"
    print(f"{'m':>3} {'model':<20} {cols}")
    for m, model, f1, sd, best, share, sp, ts, val, fresh_val in rows:
        f1s = f"{100 * f1:>9.2f} {100 * sd:>7.2f} {100 * best:>7.2f}"
        print(f"{m:>3} {model:<20} {f1s} {share:>9.2f} {sp:>8.1f} {ts:>8.0f} {val:>7.4f} {fresh_val:>9.4f}")


if __name__ == "__main__":
    main()
