"""Fixtures the reliability suites share."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="package")
def tiny_model(tiny_encoder, tmp_path_factory) -> Path:
    from verifier.model.encoder import TextEncoder
    from verifier.model.fusion import FusionConfig, LateFusionVerifier

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("sweep") / "model"
    enc = TextEncoder.from_name(str(tiny_encoder))
    LateFusionVerifier(
        FusionConfig(encoder=str(tiny_encoder), projection_dim=16, fusion_layers=1), enc
    ).save_pretrained(d)
    return d
