"""Training-step benchmark: pairs/s of late-fusion CACRE for k = 2, 4, 12 joint layers, bf16 and fp32, beside
the literal module (frozen states) and the plain BCE cross-encoder, all in one run; then random against
length-sorted batches (``verifier.train.epoch_order``) at the CPU preset's k. Prints figures; asserts nothing.

Builds ``perturb.v1`` groups (1 anchor, 1 positive, 5 typed negatives) from real DuIE train sentences (the
shipped sample when ../shared/data is absent) and times full optimizer steps with the offline e5-small encoder;
ratios to the first row are the figures to compare (absolute times only on a GPU).

    python -m bench.train_step [--fusion-layers 2 4 12] [--precisions bf16 fp32] [--device cpu|cuda]
                               [--order-k 6] [--order-docs 900] [--order-steps 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time

os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")  # as the CLI does: variable shapes, bounded memory

import torch

from generation.perturb import EntityPool, PerturbGenerator
from verifier.config import TrainConfig
from verifier.data.catalog import load_split
from verifier.data.groups import build_groups
from verifier.lexicon import lexicon_for
from verifier.model.precision import autocast_for, cpu_bf16_available
from verifier.train import build_model, epoch_order


def make_groups(n_docs: int):
    try:
        recs = [r for _, r in zip(range(n_docs), load_split("duie", "train"), strict=False)]
        lex = lexicon_for("duie")
    except FileNotFoundError:
        recs, lex = list(load_split("sample", "zh")), lexicon_for("sample", "zh")
    gen = PerturbGenerator(lex, EntityPool().add(recs))

    async def go():
        return [row for r in recs for row in await gen.generate(r)]

    return build_groups(asyncio.run(go()))[0]


def run_one(
    args: argparse.Namespace, used: list[list], interaction: str, k: int | None, bf16: bool, steps: int
) -> dict:
    """Time full optimizer steps of one configuration; lower-layer states are computed before the clock starts
    (the cache a real run fills once), so the figure is the steady-state training cost."""
    head = "bce" if interaction == "bce" else "cacre"
    cfg = TrainConfig(
        encoder=args.encoder,
        head=head,
        interaction="paper" if interaction == "paper" else "late",
        fusion_layers=k if interaction == "late" else None,
        batch_size=args.batch_size,
        freeze_encoder_layers=(12 - (k or 12)) if interaction == "bce" else args.freeze_encoder_layers,
        max_text_length=args.max_text_length,
        text_prefix="passage: ",
        triple_prefix="query: ",
    )
    model = build_model(cfg).to(args.device).train()
    device = torch.device(args.device)
    if hasattr(model, "prefill_states"):
        model.prefill_states([g for b in used for g in b])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, pairs = [], 0
    for step in range(args.warmup + steps):
        batch = used[step]
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast_for(device, bf16):
            loss, _ = model.group_loss(batch)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
            pairs += sum(2 + len(g.negatives) for g in batch)
    wall = sum(times)
    return {
        "name": f"{interaction}" + (f" k={k}" if k else "") + (" bf16" if bf16 else " fp32"),
        "pairs_s": pairs / wall,
        "s_step": wall / steps,
        "trainable_m": sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6,
        "gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--batch-size", type=int, default=16, help="groups per step (about 8 pairs each)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--max-text-length", type=int, default=96)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--fusion-layers", type=int, nargs="*", default=[2, 4, 12], help="late fusion k values")
    ap.add_argument("--precisions", nargs="+", default=["bf16", "fp32"], choices=["bf16", "fp32"])
    ap.add_argument(
        "--baselines",
        nargs="*",
        default=["paper", "bce"],
        help="paper: the literal module on frozen states; "
        "bce: the plain cross-encoder with the same top k=4 layers trainable (no state cache)",
    )
    ap.add_argument("--freeze-encoder-layers", type=int, default=12, help="for --baselines paper")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--order-k", type=int, default=6, help="k of the random vs length-sorted batches rows (0: skip)")
    ap.add_argument("--order-docs", type=int, default=900, help="DuIE train sentences the batch orders draw from")
    ap.add_argument("--order-steps", type=int, default=8)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    groups = make_groups(60)
    runs = [("late", k, p == "bf16") for k in args.fusion_layers for p in args.precisions]
    runs += [(b, 4 if b == "bce" else None, p == "bf16") for b in args.baselines for p in args.precisions]
    print(
        f"encoder {args.encoder}, device {args.device}, threads {torch.get_num_threads()}, batch {args.batch_size} "
        f"groups (~{sum(2 + len(g.negatives) for g in groups[: args.batch_size])} pairs), text <= "
        f"{args.max_text_length} tokens, {args.steps} timed steps after {args.warmup} warm-up; cpu bf16 native: "
        f"{cpu_bf16_available()}"
    )
    bs, n = args.batch_size, args.warmup + args.steps
    used = [groups[(i * bs) % len(groups) :][:bs] for i in range(n)]
    base = None
    for interaction, k, bf16 in runs:
        base = report(run_one(args, used, interaction, k, bf16, args.steps), base, "the first row")
    if args.order_k:
        pool = make_groups(args.order_docs)
        lengths = [len(g.text) for g in pool]
        print(f"batch order, late k={args.order_k} bf16, {len(pool)} groups, batches from one epoch's order:")
        base = None
        for name, bucket in (("random batches", 0), ("length-sorted (50)", 50)):
            order = epoch_order(lengths, bs, args.seed, bucket)
            batches = [
                [pool[i] for i in order[a : a + bs]] for a in range(0, bs * (args.warmup + args.order_steps), bs)
            ]
            r = run_one(args, batches, "late", args.order_k, True, args.order_steps)
            base = report({**r, "name": name}, base, "random batches")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def report(r: dict, base: float | None, base_name: str) -> float:
    """Print one row; returns the ratio's base (the first row's pairs/s)."""
    base = base or r["pairs_s"]
    gpu = f"   peak GPU {r['gpu_mib']:.0f} MiB" if r["gpu_mib"] is not None else ""
    print(
        f"{r['name']:<20} pairs/s {r['pairs_s']:7.1f}  ({r['pairs_s'] / base:4.2f}x {base_name})   "
        f"s/step {r['s_step']:6.2f}   trainable {r['trainable_m']:6.1f}M{gpu}",
        flush=True,
    )
    return base


if __name__ == "__main__":
    main()
