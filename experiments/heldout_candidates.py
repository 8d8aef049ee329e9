"""Calibration candidates a verifier never trained on: real LLM candidates of the *train* documents its trainer
held out for validation (``split_groups`` of its training groups with the run's fraction and seed), with the gold
records of those documents. ``verifier calibrate --decision`` fits the calibrated decision on them, at the base
rate the filter will meet; the test set (LLM candidates of DuIE *dev* sentences) is never used to fit anything.

    python -m experiments.heldout_candidates --groups runs/v16/groups/train.jsonl \
        --candidates ../shared/data/duie/llm/train_qwen1.5b_extract/candidates.jsonl --out runs/v16/calib
    verifier calibrate --model runs/v16/late/best --val runs/v16/calib/candidates.jsonl \
        --gold runs/v16/calib/gold.jsonl --decision --label-mode soft

``--documents-out`` writes every held-out document, so that `verifier generate --input` can extract candidates of
the held-out documents the shared extractions do not cover (a larger calibration set at the same base rate).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from verifier.data.catalog import load_split
from verifier.data.groups import read_groups
from verifier.io import read_jsonl, write_jsonl
from verifier.schema import Candidate
from verifier.train import split_groups


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", required=True, help="the model's training groups")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--candidates", required=True, help="LLM candidates of train documents")
    ap.add_argument("--data", default="duie")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--documents-out",
        help="also write the gold records of *every* held-out document here (input for `verifier generate --input` "
        "to extract candidates of the held-out documents that --candidates lacks)",
    )
    args = ap.parse_args()
    _, val = split_groups(read_groups(args.groups)[0], args.val_fraction, args.seed)
    docs = {g.doc_id for g in val}
    rows = [r for r in read_jsonl(args.candidates, Candidate) if r.doc_id in docs]
    gold = [g for g in load_split(args.data, args.split) if g.doc_id in {r.doc_id for r in rows}]
    out = Path(args.out)
    write_jsonl(out / "candidates.jsonl", rows)
    write_jsonl(out / "gold.jsonl", gold)
    print(f"{len(rows)} candidates of {len(gold)} held-out train documents -> {out}")
    if args.documents_out:
        every = [g for g in load_split(args.data, args.split) if g.doc_id in docs]
        write_jsonl(args.documents_out, every)
        print(f"{len(every)} held-out train documents -> {args.documents_out}")


if __name__ == "__main__":
    main()
