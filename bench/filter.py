"""Filter benchmark. Prints figures; asserts nothing.

1. Throughput: ``verifier filter`` (streaming reader, views, cross-attention, projection, similarities,
   evidence, JSONL writing) against a bare encoder forward over the same tokens in the same run, on
   ``perturb.v1`` candidates of real DuIE dev sentences (the shipped sample when ../shared/data is absent),
   with the offline e5-small encoder. Goal: ratio >= 0.8.
2. Memory: peak RSS of a filter run over 10k and 1M candidates (each in a fresh subprocess, a 2-layer model
   with the e5 tokenizer so that 1M rows finish on a CPU). Goal: the same within 10%.

    python -m bench.filter [--encoder e5-small] [--n 2000] [--sizes 10000 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from generation.perturb import EntityPool, PerturbGenerator
from verifier.data.catalog import load_split
from verifier.filter import FilterConfig, choose_views, default_lexicons, iter_chunks, run_filter
from verifier.io import write_jsonl
from verifier.lexicon import lexicon_for
from verifier.model.cacre import CacreConfig, TripleVerifier
from verifier.model.encoder import TextEncoder


def candidates(n: int) -> list:
    try:
        recs, lex = list(load_split("duie", "dev")), lexicon_for("duie")
    except FileNotFoundError:
        recs, lex = list(load_split("sample", "zh")), lexicon_for("sample", "zh")
    gen = PerturbGenerator(lex, EntityPool().add(recs))

    async def go() -> list:
        out: list = []
        for r in recs:
            out += await gen.generate(r)
            if len(out) >= n:
                break
        return out[:n]

    return asyncio.run(go())


def bare_forward(model: TripleVerifier, path: Path, batch_size: int) -> float:
    """The encoder alone over the tokens the filter encodes: per batch, each distinct text once + the triples."""
    lex = default_lexicons(None)
    t0 = time.perf_counter()
    n = 0
    with torch.no_grad():
        for chunk in iter_chunks(path, 4096):
            views = choose_views(chunk, "auto", lex)
            for i in range(0, len(chunk), batch_size):
                rows, vs = chunk[i : i + batch_size], views[i : i + batch_size]
                texts = list(dict.fromkeys(r.text for r in rows))
                strings = [model.linearize(r.triple, r.lang) for r in rows]
                strings += [model.linearize(v, r.lang) for r, v in zip(rows, vs, strict=True) if v is not None]
                model.encode(texts, model.config.max_text_length)
                model.encode(strings, model.config.max_triple_length)
                n += len(rows)
    return n / (time.perf_counter() - t0)


def throughput(encoder: str, n: int, batch_size: int, work: Path) -> None:
    torch.manual_seed(0)
    model = TripleVerifier(CacreConfig(encoder=encoder), TextEncoder.from_name(encoder)).eval()
    model_dir = model.save_pretrained(work / "model")
    rows = candidates(n)
    inp = work / "cands.jsonl"
    write_jsonl(inp, rows)
    cfg = FilterConfig(
        input=str(inp),
        model=str(model_dir),
        out=str(work / "kept.jsonl"),
        tau1=0.0,
        tau2=-1.0,
        batch_size=batch_size,
        progress=False,
        device="cpu",
    )
    bare_forward(model, inp, batch_size)  # warm-up
    bare = bare_forward(model, inp, batch_size)
    s = run_filter(cfg, model=model)
    texts = len({r.text for r in rows})
    print(
        f"throughput on {len(rows)} candidates ({texts} texts), encoder {encoder}, batch {batch_size}, "
        f"threads {torch.get_num_threads()}:"
    )
    print(f"  verifier filter   {s.triples_per_s:8.1f} triples/s")
    print(f"  bare encoder      {bare:8.1f} triples/s (same tokens)")
    print(f"  ratio             {s.triples_per_s / bare:8.2f}")


CHILD = r"""
import json, resource, sys, time
from verifier.filter import FilterConfig, run_filter
cfg = FilterConfig(input=sys.argv[1], model=sys.argv[2], out=sys.argv[3], tau1=0.0, tau2=-1.0, batch_size=256,
                   progress=False, device="cpu")
s = run_filter(cfg)
print(json.dumps({"rows": s.rows, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "triples_per_s": s.triples_per_s}))
"""


def memory(sizes: list[int], work: Path) -> None:
    from transformers import AutoTokenizer, BertConfig, BertModel

    from verifier.provision.registry import resolve_model

    enc_dir = work / "tiny-e5tok"
    tok = AutoTokenizer.from_pretrained(resolve_model("e5-small"))
    tok.save_pretrained(enc_dir)
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
        )
    ).save_pretrained(enc_dir)
    model = TripleVerifier(
        CacreConfig(encoder=str(enc_dir), projection_dim=32, n_heads=2), TextEncoder.from_name(str(enc_dir))
    )
    model_dir = model.save_pretrained(work / "tiny-model")
    base = candidates(2000)
    print("memory (fresh process per size, 2-layer model, batch 256, evidence on):")
    for n in sizes:
        inp = work / f"cands-{n}.jsonl"
        with open(inp, "w", encoding="utf-8") as fh:
            for i in range(n):
                r = base[i % len(base)]
                fh.write(r.model_copy(update={"doc_id": f"{r.doc_id}#{i // len(base)}"}).model_dump_json() + "\n")
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(inp), str(model_dir), str(work / f"kept-{n}.jsonl")],
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {n:>9,} candidates: peak RSS {res['rss_mb']:7.0f} MiB, {res['triples_per_s']:8.1f} triples/s, "
            f"{time.perf_counter() - t0:6.0f} s"
        )
        inp.unlink()
        (work / f"kept-{n}.jsonl").unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="e5-small")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 1_000_000])
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        if not args.skip_throughput:
            throughput(args.encoder, args.n, args.batch_size, work)
        if args.sizes:
            memory(args.sizes, work)
    print(f"bench peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
