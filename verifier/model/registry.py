"""What every verifier is (the :class:`Verifier` protocol that the trainer, the filter and eval program against)
and which class a saved verifier folder holds: the one loader every stage uses, by the ``model_type`` its
config.json records. CACRE (``cacre.TripleVerifier``), late fusion (``fusion.LateFusionVerifier``) and the BCE
cross-encoder (``bce.CrossEncoderVerifier``) all satisfy it; ``tests/test_verifier/test_model.py`` checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from verifier.model.persistence import read_model_config

if TYPE_CHECKING:
    import numpy as np
    import torch

    from verifier.data.groups import Group
    from verifier.model.inputs import Pairs
    from verifier.model.scores import GroupScores


@runtime_checkable
class Verifier(Protocol):
    """A model that scores (text, triple) pairs, trains on groups and saves itself as a folder."""

    config: Any
    encoder: Any

    def score_pairs(self, pairs: Pairs, with_attention: bool = False) -> tuple[np.ndarray, np.ndarray, Any]:
        """S_st and S_tt (NaN without a view) per pair, and the attention evidence when asked and available."""
        ...

    def group_loss(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a batch of groups and its logged parts."""
        ...

    def group_scores(self, groups: list[Group], batch_size: int = 16) -> GroupScores:
        """Scores of every group member, for validation AUCs."""
        ...

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path: ...


@runtime_checkable
class CachesLowerStates(Protocol):
    """A verifier whose frozen lower layers can be computed once for every sequence before training."""

    def prefill_states(self, groups: list[Group], batch_size: int = 128, progress: bool = False) -> int: ...


def load_verifier(directory: str | os.PathLike[str], map_location: str = "cpu") -> Verifier:
    """Load a saved verifier (CACRE, late fusion or the BCE cross-encoder) by the ``model_type`` in its
    config.json: the one loader every stage uses."""
    from verifier.model.bce import CrossEncoderVerifier
    from verifier.model.cacre import TripleVerifier
    from verifier.model.fusion import LateFusionVerifier

    kind = read_model_config(directory).get("model_type")
    cls = {"bce": CrossEncoderVerifier, "fusion": LateFusionVerifier}.get(kind, TripleVerifier)
    return cls.from_pretrained(directory, map_location)
