"""The generator contract and the batch runner every generator shares.

A generator has a versioned ``generator_id`` (``llm.v1``, ``perturb.v1``, ``zrcm.v1``, ...) and an async
``generate(doc) -> list[Candidate]``; it raises on failure (never returns a silent empty result for an error).

The runner (:func:`run_generation`) drives a generator over documents with bounded concurrency, a tqdm bar,
and crash-safe resume:

- each document's rows are appended and flushed together, then its id is appended to ``<out>.done``;
- on restart, documents listed in the ledger are skipped; rows at the end of the output whose document never
  reached the ledger (a crash between the two writes) are truncated away and the document is redone;
- so a run killed with SIGKILL at any moment resumes with nothing lost and nothing duplicated.

Final failures go to ``failures.jsonl`` beside the output (one :class:`~verifier.schema.Failure` per document);
they are retried by the next run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from verifier.config import ConfigError
from verifier.io import JsonlAppender, repair_tail, write_jsonl
from verifier.schema import Candidate, Document, Failure

log = logging.getLogger(__name__)


@runtime_checkable
class CandidateGenerator(Protocol):
    """Contract of every candidate generator. Input records are :class:`~verifier.schema.Document` (or its
    subclass GoldRecord, whose gold triples perturbation-style generators need)."""

    generator_id: str

    async def generate(self, doc: Document) -> list[Candidate]: ...

    def stats(self) -> dict[str, Any]: ...


REGISTRY: dict[str, Callable[..., CandidateGenerator]] = {}


def register(generator_id: str) -> Callable[[Callable[..., CandidateGenerator]], Callable[..., CandidateGenerator]]:
    """Register a generator factory under a versioned id (``name.vN``)."""
    if "." not in generator_id or not generator_id.rsplit(".", 1)[1].startswith("v"):
        raise ValueError(f"generator ids carry a version, e.g. 'llm.v1' (got {generator_id!r})")

    def deco(factory: Callable[..., CandidateGenerator]) -> Callable[..., CandidateGenerator]:
        REGISTRY[generator_id] = factory
        return factory

    return deco


class RunSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generator: str
    output: str
    documents_seen: int = 0
    documents_skipped_done: int = 0
    documents_done: int = 0
    documents_failed: int = 0
    rows_written: int = 0
    rows_truncated_on_resume: int = 0
    by_role: dict[str, int] = {}
    by_corruption: dict[str, int] = {}
    wall_s: float = 0.0
    generator_stats: dict[str, Any] = {}


def ledger_path(out: Path) -> Path:
    return out.with_name(out.name + ".done")


def failures_path(out: Path) -> Path:
    return out.parent / "failures.jsonl"


def prepare_resume(out: Path) -> tuple[set[str], int]:
    """Repair the output and ledger after a crash; return (finished doc ids, rows truncated)."""
    done: set[str] = set()
    ledger = ledger_path(out)
    if ledger.exists():
        repair_tail(ledger)
        done = {line.strip() for line in ledger.read_text(encoding="utf-8").splitlines() if line.strip()}
    if not out.exists():
        return done, 0
    repair_tail(out)
    cut, truncated, offset = None, 0, 0
    with open(out, "rb") as fh:
        for raw in fh:
            doc_id = json.loads(raw)["doc_id"]
            if doc_id in done:
                cut, truncated = None, 0
            elif cut is None:
                cut, truncated = offset, 1
            else:
                truncated += 1
            offset += len(raw)
    if cut is not None:
        with open(out, "rb+") as fh:
            fh.truncate(cut)
    return done, truncated


async def run_generation(
    generator: CandidateGenerator,
    docs: Iterable[Document],
    out: str | os.PathLike[str],
    concurrency: int = 8,
    total: int | None = None,
    progress: bool = True,
    cost_fn: Callable[[dict[str, Any]], float] | None = None,
) -> RunSummary:
    """Run ``generator`` over ``docs`` into ``out`` (JSONL of Candidate), resumable; returns the summary."""
    from tqdm.auto import tqdm

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done, truncated = prepare_resume(out)
    summary = RunSummary(generator=generator.generator_id, output=str(out), rows_truncated_on_resume=truncated)
    old_failures = []
    if failures_path(out).exists():
        repair_tail(failures_path(out))
        old_failures = [json.loads(x) for x in failures_path(out).read_text(encoding="utf-8").splitlines() if x]
    failures: list[Failure] = []
    roles: Counter[str] = Counter()
    corruptions: Counter[str] = Counter()
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc=generator.generator_id, unit="doc", disable=not progress, dynamic_ncols=True)
    sem = asyncio.Semaphore(concurrency)

    with (
        JsonlAppender(out) as rows_w,
        JsonlAppender(ledger_path(out)) as ledger_w,
        JsonlAppender(failures_path(out)) as fail_w,
    ):
        fatal: list[ConfigError] = []

        async def one(doc: Document) -> tuple[Document, list[Candidate] | None, BaseException | None]:
            async with sem:
                if fatal:  # queued behind the semaphore when the run was stopped: send nothing
                    raise fatal[0]
                try:
                    return doc, await generator.generate(doc), None
                except ConfigError as e:  # the run's settings are wrong for every document (a refused key): stop
                    fatal.append(e)
                    raise
                except Exception as e:  # every other failure becomes a Failure row
                    return doc, None, e

        def finish(doc: Document, rows: list[Candidate] | None, err: BaseException | None) -> None:
            if err is not None:
                fail = Failure(
                    doc_id=doc.doc_id,
                    stage=generator.generator_id,
                    reason=f"{type(err).__name__}: {err}",
                    attempts=getattr(err, "attempts", 1),
                    last_response=getattr(err, "last_response", None),
                )
                failures.append(fail)
                fail_w.write_many([fail])
                summary.documents_failed += 1
            else:
                assert rows is not None
                rows_w.write_many(rows)
                ledger_w.write_raw(doc.doc_id + "\n")
                summary.documents_done += 1
                summary.rows_written += len(rows)
                roles.update(r.role for r in rows)
                corruptions.update(r.corruption for r in rows if r.corruption)
            bar.update(1)
            stats = generator.stats()
            if "prompt_tokens" in stats:
                post = {"tok": stats["prompt_tokens"] + stats["completion_tokens"], "fail": summary.documents_failed}
                if cost_fn is not None:
                    post["usd"] = f"{cost_fn(stats):.4f}"
                bar.set_postfix(post, refresh=False)

        def drain(finished: set[asyncio.Task[Any]]) -> None:
            """Record every finished document, then raise a stopped run's error (each outcome retrieved)."""
            outcomes = [(t, t.exception()) for t in finished if not t.cancelled()]
            for t, e in outcomes:
                if e is None:
                    finish(*t.result())
            stop = next((e for _, e in outcomes if e is not None), None)
            if stop is not None:
                raise stop

        pending: set[asyncio.Task[Any]] = set()
        try:
            for doc in docs:
                summary.documents_seen += 1
                if doc.doc_id in done:
                    summary.documents_skipped_done += 1
                    bar.update(1)
                    continue
                pending.add(asyncio.ensure_future(one(doc)))
                if len(pending) >= 2 * concurrency:
                    finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    drain(finished)
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                drain(finished)
        except BaseException:  # a stopped run: cancel what is queued, collect what is in flight, then re-raise
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)  # retrieves their outcomes
            bar.close()  # the error message then starts on its own line
            raise
    bar.close()
    # Failures of documents that are now done are history; keep the rest (this run's and untouched ones).
    now_done = done | {ln.strip() for ln in ledger_path(out).read_text(encoding="utf-8").splitlines()}
    keep = {f.doc_id: f for f in failures}
    for f in old_failures:
        if f["doc_id"] not in now_done and f["doc_id"] not in keep:
            keep[f["doc_id"]] = Failure.model_validate(f)
    write_jsonl(failures_path(out), keep.values())
    summary.by_role = dict(roles)
    summary.by_corruption = dict(corruptions)
    summary.wall_s = round(time.perf_counter() - t0, 3)
    summary.generator_stats = generator.stats()
    return summary
