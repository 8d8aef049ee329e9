"""``verifier judge``: the LLM-as-judge baseline a user would pick instead of a trained verifier (RefChecker-style).

Each candidate is shown to an LLM with its text (``prompts/judge.<lang>.v1.md``: does the text support this
triple?), answered with one token, and scored by the first token's log-probabilities: p = P(yes) / (P(yes) +
P(no)), yes = 是 / yes, no = 否 / no (any case, surrounding spaces ignored). When neither appears among the
returned alternatives the row scores 0.5 and is counted. The same OpenAI-compatible path as ``generate``: the
local GGUF through llama.cpp's server (started with ``logits_all``, which log-probabilities need), or a preset
(deepseek-v3, qwen-plus, ...). Rows are written as ScoredCandidate with ``s_st = p`` (and ``p_correct = p``), kept
when p >= 0.5, so ``verifier eval`` reports its AUC beside the verifier's; throughput goes to the summary.
"""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from generation.llm.client import LLMClient
from generation.llm.prompts import defuse, load_prompt
from verifier.config import StageConfig
from verifier.schema import Candidate, ScoredCandidate

YES = ("是", "yes")
NO = ("否", "no", "不")


class JudgeConfig(StageConfig):
    section = "judge"

    input: str = ""
    """Candidate JSONL to judge."""
    out: str = "runs/judge/judged.jsonl"
    llm: str = "local"
    """Endpoint preset (as for generate): local, deepseek-v3, qwen-plus, openai-compatible, ..."""
    model: str | None = None
    """Model (default: the preset's; for local an alias such as qwen2.5-coder-1.5b or a GGUF path)."""
    base_url: str | None = None
    api_key_env: str | None = None
    concurrency: int = Field(1, ge=1)
    limit: int | None = Field(None, ge=1)
    """First N candidates only."""
    timeout_s: float = Field(120.0, gt=0)
    max_attempts: int = Field(3, ge=1)
    top_logprobs: int = Field(10, ge=2, le=20)
    cache: str | None = None
    refresh: bool = False
    n_ctx: int = 4096
    progress: bool = True


def p_yes(top: dict[str, float] | None) -> float | None:
    """P(yes) / (P(yes) + P(no)) from the first token's alternatives; None when neither is among them."""
    if not top:
        return None
    yes = sum(math.exp(lp) for t, lp in top.items() if t.strip().lower() in YES)
    no = sum(math.exp(lp) for t, lp in top.items() if t.strip().lower() in NO)
    return yes / (yes + no) if yes + no > 0 else None


async def judge_rows(
    client: LLMClient, rows: list[Candidate], top_logprobs: int, concurrency: int, progress: bool = False
) -> tuple[list[float], int]:
    """p(yes) for every row (0.5 where the answer had neither yes nor no) and how many such rows there were."""
    from tqdm.auto import tqdm

    sem = asyncio.Semaphore(concurrency)
    extra = {"logprobs": True, "top_logprobs": top_logprobs}
    bar = tqdm(total=len(rows), desc="judge", unit="triple", disable=not progress)

    async def one(r: Candidate) -> float | None:
        prompt = load_prompt(f"judge.{r.lang}")
        msgs = prompt.render(text=defuse(r.text), head=r.triple.head, relation=r.triple.relation, tail=r.triple.tail)
        async with sem:
            comp = await client.complete(msgs, prompt, max_tokens=1, extra=extra)
        bar.update(1)
        return p_yes(comp.top_logprobs)

    got = await asyncio.gather(*(one(r) for r in rows))
    bar.close()
    return [0.5 if p is None else p for p in got], sum(p is None for p in got)


class JudgeSummary(BaseModel):
    """What one judge run did (written as ``<out>.summary.json``)."""

    model_config = ConfigDict(extra="forbid")

    input: str
    model: str
    rows: int
    undecided: int
    """Rows whose first answer token was neither yes nor no among the top log-probabilities (P = 0.5)."""
    kept: int
    """Rows with P(yes) >= 0.5."""
    wall_s: float
    triples_per_s: float | None


def run_judge(cfg: JudgeConfig) -> JudgeSummary:
    """Judge ``cfg.input`` into ``cfg.out``; returns the summary."""
    from generation.run import GenerateConfig, _local_model_path, resolve_preset
    from verifier.config import cache_dir
    from verifier.io import atomic_writer, dumps, read_jsonl

    rows = list(read_jsonl(cfg.input, Candidate))[: cfg.limit]
    preset = resolve_preset(
        GenerateConfig(llm=cfg.llm, model=cfg.model, base_url=cfg.base_url, api_key_env=cfg.api_key_env)
    )

    async def go(base_url: str, model: str) -> tuple[list[float], int, float]:
        from generation.llm.cache import CompletionCache
        from generation.llm.client import LLMSettings

        settings = LLMSettings(
            base_url=base_url,
            model=model,
            cache_scope=f"local:{model}" if preset.local else None,  # the local server's port changes per run
            api_key_env=preset.api_key_env,
            json_mode=False,
            max_tokens=1,
            max_tokens_cap=1,
            timeout_s=cfg.timeout_s,
            max_attempts=cfg.max_attempts,
        )
        cache = CompletionCache(cfg.cache or cache_dir() / "llm_cache.sqlite")
        client = LLMClient(settings, cache=cache, refresh=cfg.refresh)
        t0 = time.perf_counter()
        try:
            p, undecided = await judge_rows(client, rows, cfg.top_logprobs, cfg.concurrency, cfg.progress)
        finally:
            await client.aclose()
            cache.close()
        return p, undecided, time.perf_counter() - t0

    if preset.local:
        from generation.llm.local_server import LocalLlamaServer

        name = cfg.model or preset.model or "qwen2.5-coder-0.5b"
        out_dir = Path(cfg.out).parent
        out_dir.mkdir(parents=True, exist_ok=True)
        with LocalLlamaServer(
            _local_model_path(name), n_ctx=cfg.n_ctx, log_path=out_dir / "llama_server.log", logits_all=True
        ) as server:
            probs, undecided, wall = asyncio.run(go(server.url, Path(name).name))
        model_name = Path(name).name
    else:
        assert preset.base_url and preset.model
        probs, undecided, wall = asyncio.run(go(preset.base_url, preset.model))
        model_name = preset.model
    with atomic_writer(cfg.out) as fh:
        for r, p in zip(rows, probs, strict=True):
            keep = p >= 0.5
            fh.write(
                dumps(
                    ScoredCandidate(
                        **r.model_dump(),
                        s_st=p,
                        p_correct=p,
                        decision="keep" if keep else "reject",
                        reason=None if keep else "below_tau1",
                        verifier=f"judge:{model_name}",
                    )
                )
                + "\n"
            )
    return JudgeSummary(
        input=cfg.input,
        model=model_name,
        rows=len(rows),
        undecided=undecided,
        kept=sum(p >= 0.5 for p in probs),
        wall_s=round(wall, 1),
        triples_per_s=round(len(rows) / wall, 3) if wall else None,
    )


__all__ = ["JudgeConfig", "JudgeSummary", "judge_rows", "p_yes", "run_judge"]
