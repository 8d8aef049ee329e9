"""One optimisation loop for every trainable model of the project: the verifier (``verifier train``) and the
zero-shot matchers (``verifier zsre train``).

The loop knows nothing of models or data. The caller gives it three functions: the batches of an epoch, one
optimizer step on a batch (returning the loss), and an evaluation that says whether to stop early. The loop
owns what they share:
- the count of steps and epochs and the position inside an epoch, in :class:`LoopState`. A caller that saves this
  state with its checkpoint resumes exactly where it stopped;
- evaluation every ``eval_every`` steps, at the last step, when the wall-time budget runs out, and once more at
  the end if the last step was not evaluated;
- the step budget (``total_steps``), the epoch budget, the wall-time budget (``max_minutes``) and a progress bar.

Checkpointing the best model, early stopping by patience and whatever happens between epochs (hard-negative
mining) stay with the caller, because they are the model's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

B = TypeVar("B")


class LoopState(BaseModel):
    """Where a run stands; saved with a checkpoint, it resumes the run exactly."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    """Optimizer steps already taken in the current epoch."""
    last_eval_step: int | None = None


class Budget(BaseModel):
    """When a run stops and when it evaluates."""

    total_steps: int
    epochs: int
    eval_every: int
    max_minutes: float | None = None
    """Wall time from the start of ``fit`` (a resumed run starts its clock again)."""


class Loop(Generic[B]):
    """``fit`` runs epochs of batches through ``step`` until a budget is spent or ``evaluate`` says stop."""

    def __init__(self, budget: Budget, progress: bool = False, desc: str = "train") -> None:
        self.budget = budget
        self.progress = progress
        self.desc = desc
        self.t0 = time.perf_counter()
        self.note: dict[str, str] = {}
        """Shown beside the loss on the progress bar (the caller's best score, say)."""

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.t0

    def fit(
        self,
        state: LoopState,
        epoch_batches: Callable[[LoopState], Sequence[B]],
        step: Callable[[B], float],
        evaluate: Callable[[LoopState], bool],
        on_epoch_end: Callable[[LoopState], None] | None = None,
    ) -> LoopState:
        """Train from ``state`` (updated in place and returned).

        ``epoch_batches(state)``: the current epoch's batches, the same list again when a run resumes inside an
        epoch (the caller keeps the order it drew). ``step(batch)``: one optimizer step, returns the loss.
        ``evaluate(state)``: validate (and checkpoint); True stops the run (early stopping).
        ``on_epoch_end(state)``: after each completed epoch, before the next one is drawn."""
        from tqdm.auto import tqdm

        b = self.budget
        self.t0 = time.perf_counter()
        bar = tqdm(
            total=b.total_steps, initial=state.step, desc=self.desc, disable=not self.progress, dynamic_ncols=True
        )

        def run_eval() -> bool:
            state.last_eval_step = state.step
            return evaluate(state)

        stop = False
        while not stop and state.step < b.total_steps and state.epoch < b.epochs:
            batches = epoch_batches(state)
            if not batches:
                break  # nothing to train on (fewer examples than one batch): no epoch would ever end
            while state.batch_in_epoch < len(batches):
                loss = step(batches[state.batch_in_epoch])
                state.batch_in_epoch += 1
                state.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", **self.note, refresh=False)
                timed_out = b.max_minutes is not None and self.elapsed_s() > 60 * b.max_minutes
                if state.step % b.eval_every == 0 or state.step >= b.total_steps or timed_out:
                    stop = run_eval() or timed_out
                if stop or state.step >= b.total_steps:
                    break
            if state.batch_in_epoch >= len(batches):
                state.epoch += 1
                state.batch_in_epoch = 0
                if on_epoch_end is not None:
                    on_epoch_end(state)
        if state.last_eval_step != state.step:
            run_eval()
        bar.close()
        return state


def chunks(items: Sequence[Any], size: int, drop_last: bool = False) -> list[list[Any]]:
    """Consecutive slices of ``size`` (the last one shorter unless ``drop_last``)."""
    out = [list(items[i : i + size]) for i in range(0, len(items), size)]
    return out[:-1] if drop_last and out and len(out[-1]) < size else out


__all__ = ["Budget", "Loop", "LoopState", "chunks"]
