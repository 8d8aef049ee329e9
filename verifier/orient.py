"""Direction by the verifier: score both orientations of an extracted triple and keep the better one.

LLM extractors often write a right fact backwards: of the 1,016 held-out calibration candidates of the
Qwen2.5-Coder-1.5B extractor, 98 wrong ones are a gold triple with head and tail exchanged, nearly as many as the
113 right ones. A filter that can only keep or drop the extractor's rows cannot recover them, so its recall stays
at the extractor's. The verifier was trained with head/tail swaps as negatives, so it can tell the directions
apart: on those calibration candidates, where exactly one orientation is right, the higher-scored one is the right
one 92 % of the time (``python -m experiments.orientation``; docs/results.md section 0b).

The rule: the reversed triple (``Triple.reversed``) replaces the extractor's when its score is higher by more than
``margin`` (in the model's S_st units). Measured on the calibration candidates only (document halves, the decision
refitted on each half, F1 against the other half's gold), the decision's F1 rose from 22.2 (the extractor's
directions) to 35.3 / 36.9 / 37.1 with margins 0 / 0.1 / 0.2 (cosine S_st of the two-epoch late-fusion model); 0.2
is the filter's default, and ``verifier calibrate --decision`` chooses the margin for the model it calibrates
(``verifier.calibration.MARGINS``; 0.2 again for that model).

Turning triples around can make two rows of a document the same triple (the extractor wrote both directions);
:func:`duplicates` marks all but the best-scored copy, which the filter rejects as ``duplicate`` (eval would count
the copies as wrong). Pure functions: the filter scores, this module decides.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

DEFAULT_MARGIN = 0.2
"""S_st by which the reversed triple must beat the extractor's (measured above)."""

CHANGE = "direction:verifier"
"""The ``repairs`` entry of a row the verifier turned around."""


def choose(score: np.ndarray, score_reversed: np.ndarray, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """(N,), (N,) -> (N,) bool: where the reversed triple is kept instead (it scores higher by more than margin)."""
    return np.asarray(score_reversed, dtype=float) > np.asarray(score, dtype=float) + margin


def duplicates(keys: Sequence[Hashable | None], score: np.ndarray) -> np.ndarray:
    """(N,) bool: rows whose key another row shares with a higher score (the first of equals stays). A None key
    is never a duplicate."""
    best: dict[Hashable, int] = {}
    for i, k in enumerate(keys):
        if k is not None and (k not in best or score[i] > score[best[k]]):
            best[k] = i
    return np.asarray([k is not None and best[k] != i for i, k in enumerate(keys)], dtype=bool)


__all__ = ["CHANGE", "DEFAULT_MARGIN", "choose", "duplicates"]
