"""Frozen-encoder state cache: filling it batch by batch (as training meets the sequences) against one prefill
pass sorted by length. Prints figures; asserts nothing.

Same ``perturb.v1`` groups (real DuIE train sentences; the shipped sample when ../shared/data is absent), same
e5-small encoder, fully frozen. (a) ``group_loss`` over batches of ``--batch-size`` groups in order, the way a
first epoch fills the cache; (b) ``prefill_states`` on a fresh cache. Both end with every sequence cached; the
ratio (a) / (b) is the speed-up of the prefill. Then one more pass of (a) on the filled cache: the per-step cost
of the heads alone.

    python -m bench.state_cache [--groups 256] [--batch-size 32] [--prefill-batch 128]
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.train_step import make_groups
from verifier.config import TrainConfig
from verifier.train import build_model


def fresh_model(encoder: str):
    torch.manual_seed(0)
    # the literal module (--interaction paper) with every layer frozen: the one model the full state cache serves
    model = build_model(TrainConfig(encoder=encoder, interaction="paper", freeze_encoder_layers=99))
    assert model.encoder.state_cache_enabled
    return model.train()


def by_batches(model, groups, batch_size: int) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(groups), batch_size):
        loss, _ = model.group_loss(groups[i : i + batch_size])
        loss.backward()
        model.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--groups", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--prefill-batch", type=int, default=128)
    args = ap.parse_args()
    groups = make_groups(args.groups)[: args.groups]
    a = fresh_model(args.encoder)
    t_steps = by_batches(a, groups, args.batch_size)
    n = a.encoder.cache_misses
    t_heads = by_batches(a, groups, args.batch_size)
    b = fresh_model(args.encoder)
    t0 = time.perf_counter()
    b.prefill_states(groups, batch_size=args.prefill_batch)
    t_fill = time.perf_counter() - t0
    t_after = by_batches(b, groups, args.batch_size)
    assert b.encoder.cache_misses == n, (b.encoder.cache_misses, n)
    print(f"{len(groups)} groups, {n} distinct sequences, encoder {args.encoder}, threads {torch.get_num_threads()}")
    print(f"(a) fill while training, batches of {args.batch_size} groups: {t_steps:.1f} s ({n / t_steps:.1f} seq/s)")
    print(f"(b) prefill sorted by length, batches of {args.prefill_batch}: {t_fill:.1f} s ({n / t_fill:.1f} seq/s)")
    print(f"speed-up of the encoding (a - heads) / (b): {(t_steps - t_heads) / t_fill:.2f}x")
    n_steps = -(-len(groups) // args.batch_size)
    print(f"heads only on the filled cache: {t_heads:.1f} s per pass ({t_heads / n_steps:.2f} s/step); after prefill")
    print(f"the same pass took {t_after:.1f} s")


if __name__ == "__main__":
    main()
