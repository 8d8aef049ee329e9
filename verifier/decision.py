"""One calibrated keep/reject decision: ``p_correct`` from grounding features, saved as ``decision.json``.

Features of a (repaired) candidate, in this order (``GROUNDING_FEATURES``):
- ``model_score``: the verifier's S_st as a logit when it is a probability (late fusion's pointwise score),
  else the raw similarity;
- ``in_schema``: the relation is a schema relation (after canonicalisation);
- ``head_in_text`` / ``tail_in_text``: the mention occurs verbatim in the text;
- ``repaired``: canonicalisation changed the triple.

A logistic regression (scikit-learn) over them, fitted on labelled candidates that look like what the filter
meets (real LLM candidates of *training* documents at their real base rate), gives ``p_correct``; tau1 is chosen
on the same candidates by ``eval.calibrate`` for the requested objective. The triple-triple consistency S_tt is
not a feature: on every model measured so far it adds nothing (docs/results.md), so tau2 is "off" (None) unless a
caller sets it. Each row's explanation lists the features that pushed its logit most, with their signed share.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

GROUNDING_FEATURES = ("model_score", "in_schema", "head_in_text", "tail_in_text", "repaired")


def grounding_features(
    texts: list[str],
    heads: list[str],
    tails: list[str],
    relations: list[str],
    s_st: np.ndarray,
    schema: frozenset[str] | set[str] | None,
    repaired: list[bool],
    probability: bool,
) -> np.ndarray:
    """(N, 5) feature matrix in ``GROUNDING_FEATURES`` order; ``schema`` None counts every relation as inside."""
    s = np.asarray(s_st, dtype=float)
    if probability:
        p = np.clip(s, 1e-6, 1 - 1e-6)
        s = np.log(p / (1 - p))
    return np.column_stack(
        [
            s,
            [schema is None or r in schema for r in relations],
            [h in t for h, t in zip(heads, texts, strict=True)],
            [x in t for x, t in zip(tails, texts, strict=True)],
            repaired,
        ]
    ).astype(float)


class DecisionModel(BaseModel):
    """The filter's decision: coefficients, thresholds and where they came from (``decision.json``)."""

    model_config = ConfigDict(extra="forbid")

    features: list[str]
    coef: list[float]
    intercept: float
    mean: list[float]
    """Feature means on the calibration candidates (the reference point of explanations)."""
    tau1: float
    """Keep a row when p_correct >= tau1."""
    tau2: float | None = None
    """S_tt gate; None = off (S_tt adds no measured value, docs/results.md)."""
    objective: str
    label_mode: str
    base_rate: float
    """Share of correct candidates in the calibration set."""
    n: int
    positives: int
    precision: float
    recall: float
    f1: float
    fitted_at: str
    source: str | None = None
    """The labelled candidates it was fitted on."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ np.asarray(self.coef) + self.intercept  # (N,)

    def p_correct(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))

    def explain(self, x: np.ndarray, k: int = 2) -> list[list[str]]:
        """Per row, the ``k`` features whose deviation from the calibration mean moved the logit most."""
        contrib = (x - np.asarray(self.mean)) * np.asarray(self.coef)  # (N, F)
        order = np.argsort(-np.abs(contrib), axis=1)[:, :k]
        return [[f"{self.features[j]} {contrib[i, j]:+.2f}" for j in row] for i, row in enumerate(order)]

    def save(self, model_dir: str | os.PathLike[str]) -> Path:
        from verifier.io import write_json

        path = decision_path(model_dir)
        write_json(path, self.model_dump())
        return path

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str]) -> DecisionModel | None:
        path = decision_path(model_dir)
        if not path.exists():
            return None
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))


def decision_path(model_dir: str | os.PathLike[str]) -> Path:
    return Path(model_dir) / "decision.json"


def fit_decision(
    x: np.ndarray,
    y: np.ndarray,
    objective: str = "f1",
    label_mode: str = "strict",
    source: str | None = None,
    c: float = 1.0,
) -> DecisionModel:
    """L2 logistic regression of the labels on the features; tau1 on its probabilities for ``objective``."""
    from sklearn.linear_model import LogisticRegression

    from eval.calibrate import calibrate

    y = np.asarray(y).astype(int)
    if y.min() == y.max():
        raise ValueError("the calibration candidates need both correct and wrong rows")
    lr = LogisticRegression(C=c, max_iter=2000).fit(x, y)
    p = lr.predict_proba(x)[:, 1]
    choice = calibrate(p, np.full(len(p), np.nan), y, objective)
    return DecisionModel(
        features=list(GROUNDING_FEATURES),
        coef=[float(v) for v in lr.coef_[0]],
        intercept=float(lr.intercept_[0]),
        mean=[float(v) for v in x.mean(0)],
        tau1=choice.tau1,
        objective=objective,
        label_mode=label_mode,
        base_rate=float(y.mean()),
        n=len(y),
        positives=int(y.sum()),
        precision=choice.precision,
        recall=choice.recall,
        f1=choice.f1,
        fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
    )


__all__ = ["GROUNDING_FEATURES", "DecisionModel", "decision_path", "fit_decision", "grounding_features"]
