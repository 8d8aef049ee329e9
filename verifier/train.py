"""``verifier train``: a model-agnostic trainer for group-based verifiers (CACRE or the BCE baseline).

The trainer only needs ``model.group_loss(groups) -> (loss, logs)``, ``model.group_scores(groups)`` and
``model.save_pretrained(dir)``. It provides AdamW with separate encoder / head learning rates, linear warmup
and decay, gradient clipping and accumulation, bf16 autocast (CUDA, CPUs with native bf16), seeding, evaluation
every N steps (text ROC AUC and anchor ROC AUC on validation groups), the best checkpoint by their mean, early stopping,
optional error-driven hard-negative mining after each epoch (CLoCE's alternate training), and exact resume
(``last/`` holds the model, optimizer, scheduler, RNG states and the position in the epoch).

Outputs in ``--out``: ``best/`` and ``last/`` (each a loadable model folder), ``train_log.jsonl`` (one
record per evaluation), ``config.resolved.json``.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, field_validator

from verifier.config import ConfigError, TrainConfig, save_resolved
from verifier.data.groups import Group, GroupStats, read_groups
from verifier.loop import Budget, Loop, LoopState, chunks
from verifier.model.inputs import Pairs
from verifier.model.registry import CachesLowerStates, Verifier

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _read_checkpoint(last: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights and training state of ``last/``, read before anything is built or written: a damaged
    checkpoint (a crash while it was copied, a truncated file) is a ConfigError naming it, not a traceback."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weights = load_file(str(last / "model.safetensors"), device="cpu")
        ts = torch.load(last / "training_state.pt", map_location="cpu", weights_only=True)
        missing = {"optimizer", "scheduler", "rng", "state"} - set(ts if isinstance(ts, dict) else ())
        if missing:
            raise ValueError(f"training_state.pt lacks {sorted(missing)}")
    except (OSError, RuntimeError, ValueError, KeyError, EOFError, SafetensorError, pickle.UnpicklingError) as e:
        raise ConfigError(
            f"{last}: the checkpoint to resume from is unreadable ({str(e).splitlines()[0][:200]}); "
            "remove that folder (training then starts over) or train into another --out"
        ) from None
    return weights, ts


def split_groups(groups: list[Group], fraction: float, seed: int) -> tuple[list[Group], list[Group]]:
    """Hold out whole documents so no validation text is seen in training."""
    docs = sorted({g.doc_id for g in groups})
    random.Random(seed).shuffle(docs)
    n_val = max(1, round(fraction * len(docs))) if fraction > 0 else 0
    val_docs = set(docs[:n_val])
    return [g for g in groups if g.doc_id not in val_docs], [g for g in groups if g.doc_id in val_docs]


def epoch_order(lengths: list[int], batch_size: int, seed: int, bucket: int) -> list[int]:
    """One epoch's permutation of the groups; its consecutive slices of ``batch_size`` are the batches.

    ``bucket`` = N: the random permutation is cut into runs of N batches, each run is sorted by length, and the
    batches (not the groups inside them) are shuffled again, so dynamic padding pads little while the order of
    lengths stays random; the partial batch, if any, stays last so that every slice is one batch. 0: plain
    random batches. Measured on the errors.v1 groups of the 5,000 DuIE train sentences (batch 16, e5 tokens):
    padded text tokens 1.51x the real ones with random batches, 1.01x with N = 50 (docs/results.md, section 0)."""
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(lengths)).tolist()
    if not bucket:
        return order
    span = batch_size * bucket
    batches: list[list[int]] = []
    for a in range(0, len(order), span):
        run = sorted(order[a : a + span], key=lambda i: lengths[i])  # stable: ties keep the random order
        batches += chunks(run, batch_size)
    tail = [batches.pop()] if len(batches[-1]) < batch_size else []
    return [i for j in rng.permutation(len(batches)) for i in batches[j]] + [i for b in tail for i in b]


def build_model(cfg: TrainConfig, encoder: Any | None = None):
    """The verifier of ``cfg.model`` (its ``model_type`` picks the class); ``encoder``: an already loaded
    (possibly shared, frozen and cached) encoder."""
    from verifier.model.bce import CrossEncoderVerifier
    from verifier.model.cacre import TripleVerifier
    from verifier.model.encoder import TextEncoder
    from verifier.model.fusion import LateFusionVerifier

    mc = cfg.model
    late = mc.model_type == "fusion"
    if encoder is None:
        encoder = TextEncoder.from_name(mc.encoder)
        if not late:  # late fusion freezes its own lower layers and caches their states itself
            encoder.freeze_bottom(cfg.freeze_encoder_layers)
        if cfg.cache_frozen_states and encoder.fully_frozen and not late:
            encoder.enable_state_cache()
    cls = {"fusion": LateFusionVerifier, "bce": CrossEncoderVerifier, "cacre": TripleVerifier}[mc.model_type]
    return cls(mc, encoder)


def auc_pos_neg(pos: list[float], neg: list[float]) -> float | None:
    """ROC AUC of positive against negative scores, NaNs (no view) left out; None without both classes."""
    from verifier.metrics import roc_auc

    return roc_auc(np.asarray([1] * len(pos) + [0] * len(neg)), np.asarray(pos + neg, dtype=float))


class EvalPoint(BaseModel):
    """One validation of a training run (a line of ``train_log.jsonl``)."""

    text_auc: float | None
    gold_text_auc: float | None
    anchor_auc: float | None
    mean_auc: float | None
    """What chooses the checkpoint (:func:`roc_aucs`)."""
    step: int
    epoch: int
    elapsed_s: float


class Prefill(BaseModel):
    sequences: int
    wall_s: float


class TrainSummary(BaseModel):
    """What ``verifier train`` did; written to ``<out>/summary.json``."""

    groups: GroupStats
    train_groups: int
    val_groups: int
    device: str
    state_cache_prefill: Prefill | None = None
    """The frozen lower layers computed once before the first step (models that cache them)."""
    best: EvalPoint | None = None
    last: EvalPoint | None = None
    steps: int
    epochs_completed: int
    wall_s: float
    best_mean_auc: float

    @field_validator("state_cache_prefill", mode="before")
    @classmethod
    def _no_prefill(cls, v: Any) -> Any:
        return v or None  # summary.json files written before this model said {} for "none"


def roc_aucs(scores: Any) -> dict[str, float | None]:
    """Text ROC AUC (text-positive vs text-negative), gold text ROC AUC (the anchor, i.e. the gold triple in
    schema form, vs the negatives: what the filter meets) and anchor ROC AUC (anchor-positive vs
    anchor-negative); ``mean_auc`` (checkpoint selection) averages those present."""
    auc = auc_pos_neg
    text, anchor = auc(scores.text_pos, scores.text_neg), auc(scores.anchor_pos, scores.anchor_neg)
    gold = auc(scores.text_gold, scores.text_neg)
    vals = [v for v in (text, gold, anchor) if v is not None]
    return {
        "text_auc": text,
        "gold_text_auc": gold,
        "anchor_auc": anchor,
        "mean_auc": float(np.mean(vals)) if vals else None,
    }


def _param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    enc, head = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (enc if name.startswith("encoder.") else head).append(p)
    return [{"params": enc, "lr": cfg.encoder_lr or cfg.lr}, {"params": head, "lr": cfg.lr}]


def _rng_state(model_rng: random.Random | None = None) -> dict[str, Any]:
    """RNG states in plain types, so the training state loads with ``torch.load(weights_only=True)``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if model_rng is not None:
        state["model"] = model_rng.getstate()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], model_rng: random.Random | None = None) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if model_rng is not None and "model" in state:  # the entity-masking RNG
        m = state["model"]
        model_rng.setstate((m[0], tuple(m[1]), m[2]))


def mine_negatives(model: Any, groups: list[Group], batch_size: int) -> list[Group]:
    """Reorder each group's negatives by the model's current S_st, highest first (error-driven mining)."""
    model.eval()
    out = []
    for i in range(0, len(groups), batch_size):
        chunk = groups[i : i + batch_size]
        texts = [g.text for g in chunk for _ in g.negatives]
        triples = [n for g in chunk for n in g.negatives]
        langs = [g.lang for g in chunk for _ in g.negatives]
        s, _, _ = model.score_pairs(Pairs(texts=texts, triples=triples, langs=langs))
        k = 0
        for g in chunk:
            n = len(g.negatives)
            order = np.argsort(-s[k : k + n], kind="stable")
            out.append(
                g.model_copy(
                    update={
                        "negatives": [g.negatives[j] for j in order],
                        "corruptions": [g.corruptions[j] for j in order],
                    }
                )
            )
            k += n
    model.train()
    return out


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); initialises the process group under torchrun (WORLD_SIZE > 1)."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def train(cfg: TrainConfig, model: Verifier | None = None) -> TrainSummary:
    """Train a verifier; returns the final summary (best metrics, steps, timing).

    Under ``torchrun --nproc_per_node N`` (DDP) every rank takes its share of each batch (the effective batch
    stays ``batch_size``), gradients are averaged by DDP, and rank 0 alone evaluates and writes checkpoints."""
    from transformers import get_linear_schedule_with_warmup

    rank, world, local_rank = _distributed()
    groups, gstats = read_groups(cfg.candidates)  # inputs and device first: a bad one writes nothing
    if not groups:
        raise ConfigError(f"{cfg.candidates}: no complete group (anchor + positive + negative) found")
    if cfg.val:
        train_groups, val_groups = groups, read_groups(cfg.val)[0]
        if not val_groups:
            raise ConfigError(f"{cfg.val}: no complete validation group (anchor + positive + negative) found")
    else:
        train_groups, val_groups = split_groups(groups, cfg.val_fraction, cfg.seed)
    device = torch.device(cfg.device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {cfg.device}: this machine has no CUDA device (use --device cpu)")
    out = Path(cfg.out)
    last = out / "last"
    resume_from = _read_checkpoint(last) if cfg.resume and (last / "training_state.pt").exists() else None
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        save_resolved(cfg, out)
    seed_everything(cfg.seed)
    model = model if model is not None else build_model(cfg)
    model.to(device).train()
    core = model  # the unwrapped model: evaluation, checkpoints
    prefill: Prefill | None = None
    if cfg.prefill_state_cache and isinstance(core, CachesLowerStates):
        t_fill = time.perf_counter()
        n_fill = core.prefill_states(train_groups + val_groups, progress=cfg.progress and rank == 0)
        if n_fill:
            prefill = Prefill(sequences=n_fill, wall_s=round(time.perf_counter() - t_fill, 1))
            log.info("state cache: %d sequences in %.0f s", n_fill, prefill.wall_s)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            model, device_ids=[local_rank] if device.type == "cuda" else None, find_unused_parameters=True
        )
    steps_per_epoch = math.ceil(len(train_groups) / (cfg.batch_size * cfg.grad_accum))
    total_steps = min(cfg.max_steps or steps_per_epoch * cfg.epochs, steps_per_epoch * cfg.epochs)
    opt = torch.optim.AdamW(_param_groups(core, cfg), weight_decay=cfg.weight_decay)
    sched = get_linear_schedule_with_warmup(opt, int(cfg.warmup_ratio * total_steps), total_steps)
    budget = Budget(total_steps=total_steps, epochs=cfg.epochs, eval_every=cfg.eval_every, max_minutes=cfg.max_minutes)
    loop: Loop[list[list[int]]] = Loop(budget, progress=cfg.progress and rank == 0, desc=f"train {cfg.head}")
    ls = LoopState()
    state: dict[str, Any] = {"best": -1.0, "bad_evals": 0, "order": None, "train_groups": None}
    if resume_from is not None:
        weights, ts = resume_from
        core.load_state_dict(weights)
        opt.load_state_dict(ts["optimizer"])
        sched.load_state_dict(ts["scheduler"])
        _set_rng_state(ts["rng"], getattr(core, "_rng", None))
        saved = dict(ts["state"])
        ls = LoopState.model_validate({k: saved.pop(k) for k in LoopState.model_fields if k in saved})
        state.update(saved)
        if state["train_groups"] is not None:
            train_groups = [Group.model_validate(g) for g in state["train_groups"]]
        log.info("resumed at step %d (epoch %d, batch %d)", ls.step, ls.epoch, ls.batch_in_epoch)
    from verifier.model.precision import autocast_for

    log_path = out / "train_log.jsonl"
    evals: dict[str, EvalPoint] = {}  # "best" and "last"

    def evaluate() -> dict[str, Any]:
        core.eval()
        scores = core.group_scores(val_groups, batch_size=max(4, cfg.batch_size // 2))
        core.train()
        return {
            **roc_aucs(scores),
            "step": ls.step,
            "epoch": ls.epoch,
            "elapsed_s": round(loop.elapsed_s(), 1),
        }

    def save_last() -> None:
        core.save_pretrained(last)
        torch.save(
            {
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": _rng_state(getattr(core, "_rng", None)),
                "state": {
                    **ls.model_dump(),
                    **state,
                    "train_groups": [g.model_dump() for g in train_groups] if cfg.mine_hard_negatives else None,
                },
            },
            last / "training_state.pt",
        )

    def eval_and_checkpoint(_: LoopState) -> bool:
        if world > 1:
            import torch.distributed as dist

            flag = torch.zeros(1, device=device)
            if rank == 0:
                flag[0] = float(_eval_and_checkpoint_rank0())
            dist.broadcast(flag, 0)
            return bool(flag.item())
        return _eval_and_checkpoint_rank0()

    def _eval_and_checkpoint_rank0() -> bool:
        metrics = evaluate()
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(metrics) + "\n")
        score = metrics["mean_auc"] if metrics["mean_auc"] is not None else -1.0
        if score > state["best"]:
            state["best"], state["bad_evals"] = score, 0
            core.save_pretrained(out / "best")
            evals["best"] = EvalPoint.model_validate(metrics)
        else:
            state["bad_evals"] += 1
        evals["last"] = EvalPoint.model_validate(metrics)
        loop.note = {"best": f"{state['best']:.3f}"}
        save_last()
        return cfg.patience is not None and state["bad_evals"] >= cfg.patience

    def epoch_batches(s: LoopState) -> list[list[list[int]]]:
        """This epoch's optimizer steps, each ``grad_accum`` batches of group indices (the order is drawn once per
        epoch and kept in the checkpoint)."""
        state["order"] = state["order"] or epoch_order(
            [len(g.text) for g in train_groups], cfg.batch_size, cfg.seed + s.epoch, cfg.length_buckets
        )
        batches = [b for b in chunks(state["order"], cfg.batch_size) if len(b) >= world]  # one group per DDP rank
        return chunks(batches, cfg.grad_accum)

    def step(micro: list[list[int]]) -> float:
        opt.zero_grad(set_to_none=True)
        for b in micro:
            with autocast_for(device, cfg.bf16):
                loss, _ = model([train_groups[i] for i in b[rank::world]], cfg.negatives_per_group)
            (loss / cfg.grad_accum).backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], cfg.max_grad_norm)
        opt.step()
        sched.step()
        return loss.item()

    def on_epoch_end(_: LoopState) -> None:
        nonlocal train_groups
        state["order"] = None
        if cfg.mine_hard_negatives:
            train_groups = mine_negatives(core, train_groups, cfg.batch_size)

    loop.fit(ls, epoch_batches, step, eval_and_checkpoint, on_epoch_end)
    summary = TrainSummary(
        groups=gstats,
        train_groups=len(train_groups),
        val_groups=len(val_groups),
        device=str(device),
        state_cache_prefill=prefill,
        **evals,
        steps=ls.step,
        epochs_completed=ls.epoch,
        wall_s=round(loop.elapsed_s(), 1),
        best_mean_auc=state["best"],
    )
    if rank == 0:
        (out / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    if world > 1:
        import gc

        import torch.distributed as dist

        dist.barrier()
        # The DDP wrapper's reducer holds the process group; the closures above keep it alive in a reference
        # cycle, so without this the group's gloo threads were torn down at interpreter exit and a rank aborted
        # ("terminate called without an active exception": 3 of 19 DDP test runs with the cores loaded; 0 of 30 now).
        model = core
        gc.collect()
        dist.destroy_process_group()
    return summary
