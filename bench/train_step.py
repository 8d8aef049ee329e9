"""Training-step benchmark for the CACRE verifier (and the BCE baseline). Prints figures; asserts nothing.

Builds ``perturb.v1`` groups (1 anchor, 1 positive, 5 typed negatives) from real DuIE train sentences (the
shipped sample when ../shared/data is absent) and times full optimizer steps at batch 32 with the offline
e5-small encoder: steps/s, groups/s, encoder tokens/s, peak RSS, and on CUDA peak GPU memory.

    python bench/train_step.py [--encoder e5-small] [--batch-size 32] [--steps 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

sys.path = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

from generation.perturb import EntityPool, PerturbGenerator  # noqa: E402
from verifier.config import TrainConfig  # noqa: E402
from verifier.data.catalog import load_split  # noqa: E402
from verifier.data.groups import build_groups  # noqa: E402
from verifier.lexicon import lexicon_for  # noqa: E402
from verifier.train import build_model  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--head", default="cacre", choices=["cacre", "bce"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--freeze-encoder-layers",
        type=int,
        default=0,
        help="freeze the embeddings and the lowest N layers (the CPU training budget setting)",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    groups = make_groups(400)
    cfg = TrainConfig(
        encoder=args.encoder,
        head=args.head,
        batch_size=args.batch_size,
        freeze_encoder_layers=args.freeze_encoder_layers,
    )
    model = build_model(cfg).to(args.device).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    device = torch.device(args.device)
    use_amp = device.type == "cuda"
    if use_amp:
        torch.cuda.reset_peak_memory_stats()
    tok = model.encoder.tokenizer
    times, tokens = [], 0
    for step in range(args.warmup + args.steps):
        batch = groups[(step * args.batch_size) % len(groups) :][: args.batch_size]
        if step >= args.warmup:
            triples = [
                str(t) if args.head == "bce" else model.linearize(t, g.lang)
                for g in batch
                for t in [g.anchor, g.positive, *g.negatives]
            ]
            text_tokens = [len(x) for x in tok([g.text for g in batch], truncation=True, max_length=128)["input_ids"]]
            triple_tokens = [len(x) for x in tok(triples, truncation=True, max_length=32)["input_ids"]]
            if args.head == "bce":  # the cross-encoder reads the text again with every triple
                per_group = 2 + len(batch[0].negatives)
                tokens += sum(text_tokens) * per_group + sum(triple_tokens)
            else:  # CACRE encodes each text once and each triple once
                tokens += sum(text_tokens) + sum(triple_tokens)
        if use_amp:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            loss, _ = model.group_loss(batch)
        loss.backward()
        opt.step()
        if use_amp:
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    wall = sum(times)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_triples = sum(2 + len(g.negatives) for g in groups[: args.batch_size])
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(
        f"encoder {args.encoder} ({model.encoder.hidden_size}d), head {args.head}, device {args.device}, "
        f"threads {torch.get_num_threads()}, frozen layers {args.freeze_encoder_layers}, "
        f"trainable params {trainable / 1e6:.1f}M"
    )
    print(
        f"batch {args.batch_size} groups (~{n_triples} triples + {args.batch_size} texts per step), "
        f"{args.steps} timed steps after {args.warmup} warm-up"
    )
    print(
        f"steps/s {args.steps / wall:.3f}   s/step {wall / args.steps:.2f}   "
        f"groups/s {args.steps * args.batch_size / wall:.1f}   encoder tokens/s {tokens / wall:.0f}"
    )
    print(f"peak RSS {rss_mb:.0f} MiB")
    if use_amp:
        print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
