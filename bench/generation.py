"""Generation benchmark: concurrency throughput and crash-safe resume. Prints figures; asserts nothing.

1. Throughput: the scripted OpenAI-compatible server on 127.0.0.1 answers every request after an injected
   latency L; the real ``llm.v1`` generator + runner (HTTP, validation, JSONL writes) sends N requests at
   concurrency C. Achieved req/s is printed beside the ideal C/L (goal >= 0.9 x C/L up to C = 64).
2. Resume: ``verifier generate`` (a subprocess) is killed with SIGKILL at K random moments and resumed each
   time; the final output is compared with an uninterrupted reference run: lost and duplicated rows (goal 0, 0).

    python -m bench.generation [--latency 0.2] [--requests 500] [--kills 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from generation.base import run_generation
from generation.llm.cache import CompletionCache
from generation.llm.client import LLMClient, LLMSettings
from generation.llm.generator import LLMGenerator
from tests.scripted_server import ScriptedServer, copy_extractor
from verifier.io import write_jsonl
from verifier.lexicon import lexicon_for
from verifier.schema import GoldRecord


def synthetic_docs(n: int, seed: int = 0) -> list[GoldRecord]:
    rng = random.Random(seed)
    chars = "红楼梦曹雪芹鲁迅狂人日记北京大学物理系电影远山回声导演陈立主演林雨桐周景行"
    return [
        GoldRecord(doc_id=f"bench:{i}", text="".join(rng.choice(chars) for _ in range(24)) + f"{i}。") for i in range(n)
    ]


async def throughput(url: str, docs: list[GoldRecord], concurrency: int, workdir: Path) -> float:
    settings = LLMSettings(base_url=url, model="scripted", timeout_s=30, max_attempts=1, max_reasks=0)
    cache = CompletionCache(workdir / f"cache-{concurrency}.sqlite")
    client = LLMClient(settings, cache=cache, refresh=True)
    gen = LLMGenerator(client, lexicon_for("sample", "zh"), kind="extract", lang="zh")
    t0 = time.perf_counter()
    summary = await run_generation(
        gen, docs, workdir / f"out-{concurrency}.jsonl", concurrency=concurrency, progress=False
    )
    wall = time.perf_counter() - t0
    await client.aclose()
    cache.close()
    assert summary.documents_failed == 0, summary
    return len(docs) / wall


def kill_resume(url: str, docs_path: Path, workdir: Path, kills: int, seed: int) -> tuple[int, int, int, float]:
    base = [
        sys.executable,
        "-m",
        "verifier.cli",
        "-q",
        "generate",
        "--llm",
        "openai-compatible",
        "--base-url",
        url,
        "--model",
        "m",
        "--prompt",
        "cacre",
        "--data",
        "sample",
        "--split",
        "zh",
        "--input",
        str(docs_path),
        "--concurrency",
        "8",
        "--refresh",
        "--cache",
        str(workdir / "kill-cache.sqlite"),
    ]
    ref = workdir / "ref" / "c.jsonl"
    t0 = time.perf_counter()
    subprocess.run([*base, "--out", str(ref)], check=True, capture_output=True)
    ref_wall = time.perf_counter() - t0
    out = workdir / "killed" / "c.jsonl"
    rng = random.Random(seed)
    for _ in range(kills):
        p = subprocess.Popen([*base, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, ref_wall))
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    subprocess.run([*base, "--out", str(out)], check=True, capture_output=True)

    def rows(p: Path) -> Counter[str]:
        return Counter(json.dumps(json.loads(x), sort_keys=True) for x in p.read_text(encoding="utf-8").splitlines())

    want, got = rows(ref), rows(out)
    lost = sum((want - got).values())
    duplicated = sum(c - 1 for c in got.values() if c > 1)
    return sum(want.values()), lost, duplicated, ref_wall


@contextlib.contextmanager
def server_process(latency: float):  # -> Iterator[str]
    from generation.llm.local_server import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.scripted_server", "--port", str(port), "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()  # printed once listening
        yield url
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--kill-docs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        docs = synthetic_docs(args.requests)
        print(f"throughput: {args.requests} requests, injected latency L = {args.latency * 1000:.0f} ms")
        print(f"{'C':>4} {'req/s':>8} {'ideal C/L':>10} {'ratio':>6}")
        # The server runs in its own process so that it does not share the client's GIL (2 cores here).
        with server_process(args.latency) as url:
            for c in args.concurrency:
                rps = asyncio.run(throughput(url, docs, c, work))
                ideal = c / args.latency
                print(f"{c:>4} {rps:>8.1f} {ideal:>10.1f} {rps / ideal:>6.2f}", flush=True)
        docs_path = work / "docs.jsonl"
        write_jsonl(docs_path, synthetic_docs(args.kill_docs, seed=1))
        with ScriptedServer(responder=copy_extractor("作者"), latency_s=0.02) as srv:
            total, lost, dup, ref_wall = kill_resume(srv.url, docs_path, work, args.kills, args.seed)
        print(
            f"resume: {args.kills} SIGKILLs at random moments over a {ref_wall:.1f} s run of {args.kill_docs} "
            f"documents ({total} rows): lost {lost}, duplicated {dup}"
        )


if __name__ == "__main__":
    main()
