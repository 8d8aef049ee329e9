"""Which class a saved verifier folder holds: the one loader every stage (filter, calibrate, eval, experiments)
uses, by the ``model_type`` its config.json records."""

from __future__ import annotations

import os

from verifier.model.persistence import read_model_config


def load_verifier(directory: str | os.PathLike[str], map_location: str = "cpu"):
    """Load a saved verifier (CACRE, late fusion or the BCE cross-encoder) by the ``model_type`` in its
    config.json: the one loader every stage uses."""
    from verifier.model.bce import CrossEncoderVerifier
    from verifier.model.cacre import TripleVerifier
    from verifier.model.fusion import LateFusionVerifier

    kind = read_model_config(directory).get("model_type")
    cls = {"bce": CrossEncoderVerifier, "fusion": LateFusionVerifier}.get(kind, TripleVerifier)
    return cls.from_pretrained(directory, map_location)
