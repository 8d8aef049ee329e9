"""Results section 5.0a, the diagnosis (issue #18): which of Eq. 26's terms ranks a trained SDZRE's relations.

For a saved SDZRE run folder (``<run>/model`` and its ``metrics.json``, as ``verifier zsre`` writes them), score
``--n`` seeded sentences of its seen FewRel relations (the split's training relations; never a validation or test
relation) against every seen relation and count how often the right one ranks first, for each term of Eq. 26
(head keyword cosine, tail keyword cosine, description cosine cos(h̄, d^v)), for the whole score f, and for two
layer-free references built from the same encoder states: the mean token state and the mean of the two marker
states, each against d^v. The description vectors are recomputed with the run's description encoder, as
``run_zsre`` computes them. Writes nothing; prints one line per run.

    python -m experiments.sdzre_terms runs/z19/diag_random/sdzre-m10-s43 --n 256
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch
from torch.nn import functional as F


def top1(scores: torch.Tensor, gold: torch.Tensor) -> float:
    """Share of rows whose highest score is the gold column. scores (N, R), gold (N,) -> float"""
    return float((scores.argmax(-1) == gold).float().mean())


def cosines(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(N, D), (R, D) -> (N, R)"""
    return F.normalize(u, dim=-1) @ F.normalize(w, dim=-1).T


def term_accuracies(run: Path, n: int, seed: int) -> dict[str, float]:
    from generation.matching.common import is_e5, sentence_embeddings
    from generation.matching.sdzre import SDZRE, mean_state
    from generation.matching.zsre import load_dataset
    from verifier.model.encoder import TextEncoder

    model = SDZRE.from_pretrained(run / "model").eval()
    meta = json.loads((run / "model" / "descriptions.json").read_text(encoding="utf-8"))
    seen = model.config.seen_relations
    fewrel_seen = set(meta["split"]["train"])
    examples, _ = load_dataset("fewrel", None, None)
    pool = [e for e in examples if e.relation_id in fewrel_seen]
    random.Random(seed).shuffle(pool)
    xs = pool[:n]
    desc_enc = TextEncoder.from_name(meta["desc_encoder"]).eval()
    prefix = "passage: " if is_e5(meta["desc_encoder"]) else ""
    texts = {
        "v": [meta["descriptions"][r] for r in seen],
        "h": [meta["abbreviations"][r][0] for r in seen],
        "t": [meta["abbreviations"][r][1] for r in seen],
    }
    desc = {k: sentence_embeddings(desc_enc, v, prefix) for k, v in texts.items()}  # (R, D) each
    gold = torch.tensor([seen.index(e.relation_id) for e in xs])
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("head", "tail", "desc", "f", "mean_state", "marker_mean")}
    with torch.no_grad():
        for i in range(0, len(xs), 32):
            enc = model.encode(xs[i : i + 32])
            h_bar, _ = model.distill(enc)
            ctx, h = enc["ctx"], enc["x"].shape[-1]  # context "mean" has no marker states: its mean state stands in
            marker_mean = (ctx[:, :h] + ctx[:, h:]) / 2 if model.config.context == "markers" else ctx
            out["head"].append(cosines(enc["head"], desc["h"]))
            out["tail"].append(cosines(enc["tail"], desc["t"]))
            out["desc"].append(cosines(h_bar, desc["v"]))
            out["f"].append(model.match(enc, h_bar, desc))
            out["mean_state"].append(cosines(mean_state(enc["x"], enc["mask"]), desc["v"]))
            out["marker_mean"].append(cosines(marker_mean, desc["v"]))
    return {k: top1(torch.cat(v), gold) for k, v in out.items()} | {"sentences": len(xs), "relations": len(seen)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="saved SDZRE run folders")
    ap.add_argument("--n", type=int, default=256, help="seen sentences scored per run")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for run in args.runs:
        acc = term_accuracies(run, args.n, args.seed)
        print(f"{run}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in acc.items()))


if __name__ == "__main__":
    main()
