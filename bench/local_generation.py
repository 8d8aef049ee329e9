"""Local generation benchmark: the real offline models through llama.cpp's server, one run, figures printed.

For each ``--models`` x ``--constrain`` pair, ``verifier generate --llm local --prompt extract`` runs on the first
``--sentences`` sentences of ``--data`` (a fresh cache, so every answer is really decoded) and the run's own
files give: seconds per sentence (wall, server start included once), documents failed, answers cut off at the
token cap, the share of relations in the schema, and strict / soft P, R, F1 against the gold triples. Asserts
nothing. Default: the 0.5B model on 10 sentences of the shipped sample, JSON mode vs schema-constrained decoding
(a few minutes on 2 cores).

    python -m bench.local_generation [--models qwen2.5-coder-0.5b qwen2.5-coder-1.5b] [--sentences 50] \
        [--data duie --split dev] [--constrain json schema] [--draft none prompt-lookup] \
        [--answer-format objects lists] [--repeat-penalty server 1.0] [--sampling greedy-first chain] \
        [--concurrency 1 2]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

_TIMING = re.compile(r"^llama_perf_context_print:\s+(prompt eval|eval|total) time =\s+([\d.]+) ms", re.M)


def server_seconds(log: Path) -> dict[str, float]:
    """Seconds the server spent on prompt evaluation, decoding and in all, summed over requests (its own log)."""
    sums = {"prompt eval": 0.0, "eval": 0.0, "total": 0.0}
    for kind, ms in _TIMING.findall(log.read_text(errors="replace") if log.exists() else ""):
        sums[kind] += float(ms) / 1000
    return {"server_prompt_s": round(sums["prompt eval"], 1), "server_decode_s": round(sums["eval"], 1),
            "server_total_s": round(sums["total"], 1)}  # fmt: skip


def run_one(
    model: str,
    constrain: str,
    draft: str,
    fmt: str,
    penalty: str,
    sampling: str,
    concurrency: int,
    args: argparse.Namespace,
    work: Path,
) -> dict[str, object]:
    """One ``verifier generate`` run; ``penalty`` "server" sends no repeat penalty (the server's own, 1.1)."""
    from verifier.align import default_relation_classes
    from verifier.data.catalog import load_split
    from verifier.io import read_jsonl, write_jsonl
    from verifier.lexicon import lexicon_for
    from verifier.metrics import triple_prf
    from verifier.schema import Candidate

    tag = f"{model}-{constrain}-{draft}" + ("" if fmt == "objects" else f"-{fmt}")  # the earlier runs' folders
    tag += ("" if penalty == "server" else f"-rp{penalty}") + ("" if sampling == "greedy-first" else f"-{sampling}")
    tag += "" if concurrency == 1 else f"-c{concurrency}"
    out = work / tag / "candidates.jsonl"
    gold = list(load_split(args.data, args.split))[: args.sentences]
    docs = work / "docs.jsonl"
    write_jsonl(docs, gold)
    cmd = [
        sys.executable, "-m", "verifier.cli", "-q", "generate", "--llm", "local", "--model", model,
        "--prompt", "extract", "--data", args.data, "--split", args.split, "--input", str(docs),
        "--constrain", constrain, "--concurrency", str(concurrency), "--max-tokens", "384", "--max-tokens-cap", "768",
        "--draft", draft, "--draft-tokens", str(args.draft_tokens), "--answer-format", fmt, "--sampling", sampling,
        *([] if penalty == "server" else ["--repeat-penalty", penalty]),
        "--cache", str(work / f"cache-{tag}.sqlite"), "--out", str(out),
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True)  # exit 1 when some documents failed: read the files
    wall = time.perf_counter() - t0
    rows = list(read_jsonl(out, Candidate)) if out.exists() else []
    failures = (
        [json.loads(x) for x in (out.parent / "failures.jsonl").read_text().splitlines()]
        if (out.parent / "failures.jsonl").exists()
        else []
    )
    schema = set(lexicon_for(args.data if args.data != "sample" else "duie").relations)
    by_doc: dict[str, list] = {}
    for r in rows:
        by_doc.setdefault(r.doc_id, []).append(r.triple)
    g = {x.doc_id: x.triples for x in gold}
    langs = {x.doc_id: x.lang for x in gold}
    rc = default_relation_classes(None, gold[0].lang if gold else "zh")
    prf = {m: triple_prf(by_doc, g, m, langs, rc)[0] for m in ("strict", "soft")}
    summary = json.loads((out.parent / "summary.json").read_text()) if (out.parent / "summary.json").exists() else {}
    return {
        "model": model,
        "constrain": constrain,
        "draft": draft,
        "answer_format": fmt,
        "repeat_penalty": penalty,
        "sampling": sampling,
        "concurrency": concurrency,
        "sentences": len(gold),
        "s_per_sentence": round(wall / max(1, len(gold)), 2),
        "failed": len(failures),
        "completion_tokens_per_sentence": round(summary.get("tokens", {}).get("completion", 0) / max(1, len(gold)), 1),
        **server_seconds(out.parent / "llama_server.log"),
        "cut_at_cap": sum("cut off" in str(f.get("reason", "")) for f in failures),
        "candidates": len(rows),
        "in_schema": round(sum(r.triple.relation in schema for r in rows) / max(1, len(rows)), 3),
        **{f"{m}_{k}": round(getattr(v, k), 3) for m, v in prf.items() for k in ("precision", "recall", "f1")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b"])
    ap.add_argument("--constrain", nargs="+", default=["json", "schema"])
    ap.add_argument("--draft", nargs="+", default=["none"], help="speculative decoding: none, prompt-lookup")
    ap.add_argument("--draft-tokens", type=int, default=10)
    ap.add_argument("--answer-format", nargs="+", default=["objects"], choices=["objects", "lists"])
    ap.add_argument("--repeat-penalty", nargs="+", default=["server"], help="server (none sent: 1.1) or a value")
    ap.add_argument(
        "--sampling", nargs="+", default=["greedy-first"], choices=["greedy-first", "chain"],
        help="the local server's grammar sampling (generation.llm.local_server.Sampling)",
    )  # fmt: skip
    ap.add_argument(
        "--concurrency", nargs="+", type=int, default=[1],
        help="requests in flight to the local server (llama-cpp-python's server answers one at a time)",
    )  # fmt: skip
    ap.add_argument("--data", default="sample")
    ap.add_argument("--split", default="zh")
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-localgen-"))
    work.mkdir(parents=True, exist_ok=True)
    a = args
    grid = product(a.models, a.constrain, a.draft, a.answer_format, a.repeat_penalty, a.sampling, a.concurrency)
    for setting in grid:
        print(json.dumps(run_one(*setting, args, work), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
