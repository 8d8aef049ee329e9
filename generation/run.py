"""The ``generate`` stage as one typed function: resolve the config, build the generator, run it, write the
summary (resolved config, counts, tokens, cost) beside the output."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, Field

from generation.base import RunSummary, run_generation
from generation.errors import ErrorGroupsConfig
from generation.llm.client import RequestOptions
from generation.llm.local_server import Draft, Sampling
from generation.llm.presets import PRESETS, Preset, cost_usd
from generation.llm.structured import AnswerFormat, EntityPolicy, ValidationPolicy
from generation.perturb import PerturbConfig
from verifier.config import ConfigError, StageConfig, cache_dir
from verifier.io import InputError, read_json, read_jsonl, write_json
from verifier.lexicon import Lexicon, lexicon_for
from verifier.schema import GoldRecord

log = logging.getLogger(__name__)


class GenerateConfig(StageConfig, RequestOptions):
    """The ``generate`` stage's flags. Request options are ``RequestOptions``'s; a generator's own settings
    (``PerturbConfig``, ``ErrorGroupsConfig``) own their defaults: a flag left unset here keeps that default
    (:func:`negative_settings`)."""

    section = "generate"

    generator: Literal["llm.v1", "perturb.v1", "errors.v1", "zrcm.v1", "sdzre.v1"] = "llm.v1"
    """Registered generator id."""
    matcher: str | None = None
    """zrcm.v1 / sdzre.v1: the trained matcher directory (runs/zsre/model)."""
    relations: str | None = None
    """Matchers: JSON list of relation ids to choose from (default: the matcher's unseen test relations)."""
    no_relation_threshold: float | None = None
    """Matchers: emit nothing for a pair whose best matching score is below this."""
    pairs_from: str | None = None
    """Matchers, raw-text mode: take documents and entity pairs from an LLM run's candidates JSONL (each
    extracted (head, tail) found in its text becomes a pair) instead of gold entity pairs."""
    llm: str = "local"
    """Endpoint preset: deepseek-v3, deepseek-r1, qwen-plus, qwen-max, qwen-turbo, openai-compatible, local."""
    prompt: Literal["cacre", "extract", "hybrid", "staged"] = "cacre"
    """cacre: anchors/positives/negatives in one answer (training data); extract: plain candidates; hybrid: the
    extraction's in-schema, grounded triples as anchors, perturb.v1's positives and negatives around them
    (``generation.hybrid``: groups the small local models can produce); staged: the same anchors, then one small
    LLM answer per anchor for its positive and --n-negatives negatives (``generation.staged``)."""
    constrain: Literal["schema", "json", "none"] | None = None
    """Decoding constraint: schema = the answer's JSON schema (relations an enum of the dataset's, lists capped),
    sent where the endpoint takes one (local llama.cpp, openai-compatible); json = JSON mode; none = free text,
    the raw behaviour the verifier is measured against. Default: the preset's (json, or none for reasoners)."""
    answer_format: AnswerFormat = "objects"
    """Extraction answers (--prompt extract, hybrid, staged): each triple as an object {head, relation, tail} or
    as a [head, relation, tail] list (the ``extract-lists`` prompts: a quarter fewer tokens to decode and 15 % less
    time on 30 DuIE dev sentences with the 1.5B model, docs/results.md section 3)."""
    lang: Literal["zh", "en"] | None = None
    """Prompt language (default: the dataset's)."""
    data: str | None = "sample"
    """Dataset (duie, fewrel, wikizsl, sample); with --input it still names the relation inventory (schema, lexicon)."""
    split: str | None = None
    """Split of --data (default: the dataset's first)."""
    data_dir: str | None = None
    """Folder of the datasets (default: $VERIFIER_DATA, the user cache, then the checkout's ../shared/data)."""
    input: str | None = None
    """Documents or gold records as JSONL instead of --data."""
    limit: int | None = Field(None, ge=1)
    """First N documents only."""
    out: str = "runs/generate/candidates.jsonl"
    """Output JSONL (appended to on resume; ``<out>.run.json`` records the settings)."""
    model: str | None = None
    """Model name (default: the preset's; for local an alias such as qwen2.5-coder-1.5b or a GGUF path)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint (default: the preset's)."""
    api_key_env: str | None = None
    """Environment variable holding the API key (never the key itself)."""
    concurrency: int = Field(8, ge=1)
    """Documents in flight at once (the local server: its parallel slots)."""
    refresh: bool = False
    """Bypass the cache for reads."""
    cache: str | None = None
    """sqlite cache path (default: <user cache>/llm_cache.sqlite)."""
    entities: EntityPolicy | None = None
    """Entities absent from the text: reject (re-ask), flag (keep with a flag) or drop the triple
    (default: reject for --prompt cacre, flag for extract)."""
    relation_errors: EntityPolicy | None = None
    """Relations outside the dataset's set: reject (re-ask), flag or drop (default: reject for cacre, flag for
    extract, so a raw extraction keeps everything the model said for measuring it)."""
    equal_counts: bool = True
    """--prompt cacre: re-ask when an answer has unequally many anchors, positives and negatives."""
    price_in: float | None = None
    """USD per 1M prompt tokens (default: the preset's)."""
    price_out: float | None = None
    """USD per 1M completion tokens (default: the preset's)."""
    n_ctx: int = 4096
    """Context size of the local llama.cpp server."""
    draft: Draft = "none"
    """Local server: speculative decoding (prompt-lookup: proposals copied from the prompt, checked in one batched
    forward; measured no faster on 2 cores, and its answers differ: ``generation.llm.local_server.Draft``)."""
    draft_tokens: int = Field(10, ge=1, le=64)
    """Local server with --draft prompt-lookup: tokens proposed per step."""
    sampling: Sampling = "greedy-first"
    """Local server: greedy decoding under a grammar checks the greedy token first (greedy-first, the same answers
    in less time) or runs llama-cpp-python's sampler chain over the whole vocabulary (chain):
    ``generation.llm.local_server.Sampling``."""
    n_negatives: int | None = Field(None, ge=1)
    """perturb.v1, errors.v1, hybrid and staged: negatives per group (staged: at most, as the LLM writes them).
    Default: the generator's own (perturb.v1, hybrid, staged 5; errors.v1 6)."""
    paraphrase_negatives: float | None = Field(None, ge=0.0, le=1.0)
    """perturb.v1, errors.v1, hybrid: probability that a negative's relation is written as a lexicon synonym
    (removes the shortcut "relation outside the schema => correct"). Default: the generator's own (perturb.v1 0,
    as published; errors.v1 0.5)."""
    anchors_from: str | None = None
    """perturb.v1: build the groups around the triples of this candidates file instead of gold triples, e.g. the
    kept rows of ``verifier filter`` (verified anchors for documents without gold). A row anchors a group when it
    was kept (or carries no decision), its relation is in the schema and both mentions occur in its text."""
    llm_candidates: str | None = None
    """errors.v1: real LLM candidates (``verifier generate --prompt extract``) of the same training documents;
    those that match no gold triple become negatives."""
    label_mode: Literal["soft", "strict"] | None = None
    """errors.v1: the matching that decides labels (default soft: as `verifier eval` reports soft P/R/F1)."""
    span_negatives: bool | None = None
    """errors.v1: cut or extended spans become negatives under soft labels too (the exact mention must outrank
    them). Default: off."""
    seed: int | None = None
    """Seed of the negatives' draws (default: the generator's, 13)."""


def given(cfg: GenerateConfig, model: type[BaseModel]) -> dict[str, Any]:
    """The flags of ``cfg`` that ``model`` (a generator's own settings) declares and that were set."""
    return {
        k: getattr(cfg, k) for k in model.model_fields if k in type(cfg).model_fields and getattr(cfg, k) is not None
    }


def negative_settings(cfg: GenerateConfig) -> PerturbConfig | ErrorGroupsConfig:
    """The negatives' settings of this run: the flags given, the rest the generator's own defaults (errors.v1:
    ``ErrorGroupsConfig``; perturb.v1, hybrid, staged and the others: ``PerturbConfig``)."""
    model = ErrorGroupsConfig if cfg.generator == "errors.v1" else PerturbConfig
    return model(**given(cfg, model))


def default_split(dataset: str) -> str:
    from verifier.data.catalog import get_spec

    return next(iter(get_spec(dataset).splits))


def iter_documents(cfg: GenerateConfig) -> Iterator[GoldRecord]:
    if cfg.input:
        docs: Iterator[GoldRecord] = read_jsonl(cfg.input, GoldRecord)
    else:
        from verifier.data.catalog import load_split

        assert cfg.data is not None
        docs = load_split(cfg.data, cfg.split or default_split(cfg.data), cfg.data_dir)
    return islice(docs, cfg.limit) if cfg.limit else docs


def resolve_lexicon(cfg: GenerateConfig) -> tuple[Lexicon, str]:
    if cfg.input and not cfg.data:
        raise ConfigError("--data names the relation inventory; it is needed with --input too")
    assert cfg.data is not None
    split = cfg.split or default_split(cfg.data)
    lex = lexicon_for(cfg.data, split, cfg.data_dir)
    lang = cfg.lang or ("en" if lex.lang == "en" else "zh")
    return lex, lang


def resolve_preset(cfg: GenerateConfig) -> Preset:
    if cfg.llm not in PRESETS:
        raise ConfigError(f"--llm must be one of {', '.join(PRESETS)} (got {cfg.llm!r})")
    p = PRESETS[cfg.llm].model_copy()
    if cfg.base_url:
        p.base_url = cfg.base_url
    if cfg.model:
        p.model = cfg.model
    if cfg.api_key_env:
        p.api_key_env = cfg.api_key_env
    if cfg.price_in is not None:
        p.price_in = cfg.price_in
    if cfg.price_out is not None:
        p.price_out = cfg.price_out
    if not p.local and (not p.base_url or not p.model):
        raise ConfigError(f"--llm {cfg.llm} needs --base-url and --model")
    return p


def resolve_constrain(cfg: GenerateConfig, preset: Preset) -> str:
    """The decoding constraint of this run: the flag, else the preset's JSON mode; ``schema`` needs an endpoint
    that takes a JSON schema (a usage error otherwise, before anything is asked)."""
    constrain = cfg.constrain or ("json" if preset.json_mode else "none")
    if constrain == "schema" and (preset.schema_format is None or preset.reasoner):
        raise ConfigError(
            f"--constrain schema: the {preset.name} endpoint takes no JSON schema for the answer (JSON mode only); "
            "use --constrain json, or --llm openai-compatible for a server that takes one"
        )
    return constrain


async def _run_llm(
    cfg: GenerateConfig, preset: Preset, constrain: str, base_url: str, model: str, out: Path
) -> RunSummary:
    from generation.llm.cache import CompletionCache
    from generation.llm.client import LLMClient, LLMSettings
    from generation.llm.generator import LLMGenerator

    lexicon, lang = resolve_lexicon(cfg)
    settings = LLMSettings(
        base_url=base_url,
        model=model,
        cache_scope=f"local:{model}" if preset.local else None,  # the port changes per run; the model does not
        api_key_env=preset.api_key_env,
        json_mode=constrain != "none",
        schema_format=preset.schema_format,
        reasoner=preset.reasoner,
        **{**given(cfg, RequestOptions), "max_tokens_cap": max(cfg.max_tokens, cfg.max_tokens_cap)},
    )
    cache = CompletionCache(cfg.cache or cache_dir() / "llm_cache.sqlite")
    client = LLMClient(settings, cache=cache, refresh=cfg.refresh)
    kind = "extract" if cfg.prompt in ("hybrid", "staged") else cfg.prompt  # their first request is extract's
    lenient = "flag" if kind == "extract" else "reject"
    policy = ValidationPolicy(
        allowed_relations=list(lexicon.relations),
        entities_in_text=cfg.entities or lenient,
        relation_errors=cfg.relation_errors or lenient,
        equal_counts=cfg.equal_counts,
    )
    gen: Any = LLMGenerator(
        client, lexicon, kind=kind, lang=lang, policy=policy, model_name=cfg.model or preset.model,
        constrain_schema=constrain == "schema", answer_format=cfg.answer_format,
    )  # fmt: skip
    if cfg.prompt == "hybrid":
        from generation.hybrid import HybridGenerator
        from generation.perturb import PerturbGenerator

        gen = HybridGenerator(gen, lexicon, PerturbGenerator(lexicon, config=negative_settings(cfg)))
    elif cfg.prompt == "staged":
        from generation.staged import StagedGenerator

        n = negative_settings(cfg).n_negatives
        gen = StagedGenerator(gen, lexicon, lang, n, constrain_schema=constrain == "schema")
    try:
        return await run_generation(
            gen,
            iter_documents(cfg),
            out,
            concurrency=cfg.concurrency,
            cost_fn=lambda s: cost_usd(preset, s["prompt_tokens"], s["completion_tokens"]),
        )
    finally:
        await client.aclose()
        cache.close()


def _local_model_path(name: str) -> str:
    from verifier.provision.registry import MODELS, available_path, pull

    if Path(name).is_file():
        return name
    if name not in MODELS or MODELS[name].kind != "gguf":
        raise ConfigError(
            f"--model for --llm local must be a GGUF path or one of qwen2.5-coder-0.5b/1.5b (got {name!r})"
        )
    path = available_path(name)
    return str(path if path is not None else pull(name))


FINGERPRINT_FIELDS = (
    "generator", "matcher", "relations", "no_relation_threshold", "pairs_from", "llm", "prompt", "lang", "data",
    "split", "input", "model", "base_url", "temperature", "entities", "relation_errors", "equal_counts",
    "n_negatives", "paraphrase_negatives", "llm_candidates", "label_mode", "seed", "constrain", "answer_format",
    "anchors_from", "repeat_penalty", "span_negatives",
)  # fmt: skip
"""Settings that change what a document's rows are; a resumed run must use the same ones."""
NEGATIVE_FIELDS = ("n_negatives", "paraphrase_negatives", "label_mode", "seed", "span_negatives")
"""Recorded as the generator's values in force (:func:`negative_settings`), not as the flags."""


def check_fingerprint(cfg: GenerateConfig) -> None:
    """``<out>.run.json`` holds the settings that made ``out``; resuming with other ones would mix rows of two
    runs in one file, so it is refused (a new ``--out`` starts a new run). The first run writes the file."""
    path = Path(f"{cfg.out}.run.json")
    now = cfg.model_dump(mode="json", include=set(FINGERPRINT_FIELDS))
    neg = negative_settings(cfg).model_dump(mode="json")  # the values in force, as earlier runs recorded them
    now.update({k: neg.get(k, ErrorGroupsConfig.model_fields[k].default) for k in NEGATIVE_FIELDS})
    if path.exists():
        before = read_json(path)
        if not isinstance(before, dict):
            raise InputError(path, 1, "record", "not a run fingerprint (expected a JSON object); remove it to resume")
        defaults = {k: GenerateConfig.model_fields[k].default for k in FINGERPRINT_FIELDS}
        defaults.update({k: ErrorGroupsConfig.model_fields[k].default for k in NEGATIVE_FIELDS})  # values in force
        changed = sorted(k for k in FINGERPRINT_FIELDS if before.get(k, defaults[k]) != now.get(k))  # a newer field
        if changed:
            diff = ", ".join(f"--{k.replace('_', '-')} {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
            raise ConfigError(
                f"{cfg.out} was made with other settings ({diff}); resuming would mix two runs in one file: "
                "give another --out or the same settings"
            )
        return
    write_json(path, now)


class LLMPlan(BaseModel):
    """What ``llm.v1`` settles before anything is written: the endpoint preset and the decoding constraint."""

    preset: Preset
    constrain: str


def _check_llm(cfg: GenerateConfig) -> LLMPlan:
    preset = resolve_preset(cfg)
    constrain = resolve_constrain(cfg, preset)  # a usage error before any input is read or server started
    if cfg.answer_format == "lists" and cfg.prompt == "cacre":
        raise ConfigError("--answer-format lists is for the extraction prompts (--prompt extract, hybrid, staged)")
    _validate_inputs(cfg)  # before anything is written, started or paid
    return LLMPlan(preset=preset, constrain=constrain)


def _generate_llm(cfg: GenerateConfig, out: Path, plan: LLMPlan | None) -> RunSummary:
    assert plan is not None
    preset, constrain = plan.preset, plan.constrain
    if not preset.local:
        assert preset.base_url and preset.model
        return asyncio.run(_run_llm(cfg, preset, constrain, preset.base_url, preset.model, out))
    from generation.llm.local_server import LocalLlamaServer

    model = cfg.model or preset.model or "qwen2.5-coder-0.5b"
    path = _local_model_path(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    with LocalLlamaServer(
        path, n_ctx=cfg.n_ctx, log_path=out.parent / "llama_server.log", draft=cfg.draft,
        draft_tokens=cfg.draft_tokens, sampling=cfg.sampling,
    ) as server:  # fmt: skip
        return asyncio.run(_run_llm(cfg, preset, constrain, server.url, Path(model).name, out))


class StageRunner(NamedTuple):
    """How ``generate`` runs one registered generator: ``check`` raises usage errors before anything is written
    (and returns what ``run`` needs), ``run`` writes the candidates and returns the summary."""

    check: Callable[[GenerateConfig], LLMPlan | None]
    run: Callable[[GenerateConfig, Path, LLMPlan | None], RunSummary]


def _no_check(cfg: GenerateConfig) -> None:
    return None


RUNNERS: dict[str, StageRunner] = {
    "llm.v1": StageRunner(check=_check_llm, run=_generate_llm),
    "perturb.v1": StageRunner(check=_no_check, run=lambda cfg, out, _: asyncio.run(_run_perturb(cfg, out))),
    "errors.v1": StageRunner(check=_no_check, run=lambda cfg, out, _: asyncio.run(_run_errors(cfg, out))),
    "zrcm.v1": StageRunner(check=_no_check, run=lambda cfg, out, _: asyncio.run(_run_matcher(cfg, out))),
    "sdzre.v1": StageRunner(check=_no_check, run=lambda cfg, out, _: asyncio.run(_run_matcher(cfg, out))),
}
"""``--generator`` id -> how the stage runs it (the generator classes are in ``generation.base.REGISTRY``)."""


def generate(cfg: GenerateConfig) -> RunSummary:
    """Run the generate stage; writes ``out``, ``failures.jsonl``, ``summary.json`` beside it."""
    out = Path(cfg.out)
    runner = RUNNERS[cfg.generator]
    plan = runner.check(cfg)
    check_fingerprint(cfg)
    summary = runner.run(cfg, out, plan)
    stats = summary.generator_stats
    tokens = (stats.get("prompt_tokens", 0), stats.get("completion_tokens", 0))
    report = {
        "config": cfg.model_dump(mode="json"),
        "summary": summary.model_dump(mode="json"),
        "tokens": {"prompt": tokens[0], "completion": tokens[1]},
        "cost_usd": round(cost_usd(plan.preset, *tokens), 6) if plan else 0.0,
    }
    write_json(out.parent / "summary.json", report)
    return summary


def _validate_inputs(cfg: GenerateConfig) -> None:
    """Name the relation inventory and read every input document once before a server starts or a request is
    sent (and paid): a bad line is a located error with nothing spent."""
    resolve_lexicon(cfg)
    for _ in iter_documents(cfg):
        pass


def anchor_documents(path: str, lexicon: Lexicon) -> list[GoldRecord]:
    """One record per document of a candidates file, its triples the rows that can anchor a group
    (``generation.hybrid.anchors_of``); rows the filter rejected never do."""
    from generation.hybrid import anchors_of
    from verifier.io import read_candidate_rows
    from verifier.schema import Document, ScoredCandidate

    rows: dict[str, list[Any]] = {}
    for row in read_candidate_rows(path):
        if not isinstance(row, ScoredCandidate) or row.decision == "keep":
            rows.setdefault(row.doc_id, []).append(row)
    out = []
    for doc_id, doc_rows in rows.items():
        doc = Document(doc_id=doc_id, text=doc_rows[0].text, lang=doc_rows[0].lang)
        out.append(GoldRecord(**doc.model_dump(), triples=anchors_of(doc_rows, doc, lexicon)))
    return out


async def _run_perturb(cfg: GenerateConfig, out: Path) -> RunSummary:
    from generation.perturb import EntityPool, PerturbGenerator

    lexicon, _ = resolve_lexicon(cfg)
    anchored = anchor_documents(cfg.anchors_from, lexicon) if cfg.anchors_from else None
    pool = EntityPool().add(anchored if anchored is not None else iter_documents(cfg))  # the gold path streams
    gen = PerturbGenerator(lexicon, pool, negative_settings(cfg))
    docs = iter(anchored) if anchored is not None else iter_documents(cfg)
    return await run_generation(gen, docs, out, concurrency=cfg.concurrency)


async def _run_errors(cfg: GenerateConfig, out: Path) -> RunSummary:
    from generation.errors import ErrorGroupGenerator, llm_by_doc
    from generation.perturb import EntityPool
    from verifier.schema import Candidate

    lexicon, _ = resolve_lexicon(cfg)
    llm = llm_by_doc(read_jsonl(cfg.llm_candidates, Candidate)) if cfg.llm_candidates else None
    gen = ErrorGroupGenerator(
        lexicon,
        EntityPool().add(iter_documents(cfg)),
        llm,
        negative_settings(cfg),
    )
    return await run_generation(gen, iter_documents(cfg), out, concurrency=cfg.concurrency)


async def _run_matcher(cfg: GenerateConfig, out: Path) -> RunSummary:
    import json

    from generation.base import REGISTRY

    if not cfg.matcher:
        raise ConfigError(f"--generator {cfg.generator} needs --matcher (a directory written by `verifier zsre train`)")
    rels = json.loads(Path(cfg.relations).read_text(encoding="utf-8")) if cfg.relations else None
    import generation.matching.generator  # noqa: F401  (registers the matcher generators)

    gen = REGISTRY[cfg.generator](cfg.matcher, rels, cfg.no_relation_threshold)
    docs = pairs_from_candidates(cfg.pairs_from) if cfg.pairs_from else iter_documents(cfg)
    return await run_generation(gen, docs, out, concurrency=1)


def pairs_from_candidates(path: str) -> Iterator[GoldRecord]:
    """Raw-text mode: one record per document of an LLM candidates file, whose 'triples' carry the distinct
    (head, tail) pairs the LLM extracted, located in the text (pairs not found verbatim are skipped). The
    relation slot is only a placeholder; the matcher chooses the relation."""
    from verifier.schema import Candidate, Triple

    docs: dict[str, tuple[Candidate, dict[tuple[str, str], Triple]]] = {}
    for row in read_jsonl(path, Candidate):
        _, pairs = docs.setdefault(row.doc_id, (row, {}))
        h, t = row.triple.head, row.triple.tail
        hi, ti = row.text.find(h), row.text.find(t)
        if hi < 0 or ti < 0 or (h, t) in pairs or h == t:
            continue
        pairs[(h, t)] = Triple(head=h, relation="?", tail=t, head_span=(hi, hi + len(h)), tail_span=(ti, ti + len(t)))
    for row, pairs in docs.values():
        yield GoldRecord(doc_id=row.doc_id, text=row.text, lang=row.lang, triples=list(pairs.values()))
