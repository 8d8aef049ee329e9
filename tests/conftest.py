"""Shared fixtures: the real data directory (skip cleanly when absent) and an isolated user cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier.data.paths import shared_data_candidates


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data when present; tests that need the real datasets skip without it."""
    for cand in shared_data_candidates():
        if (cand / "README.md").exists():
            return cand
    pytest.skip("../shared/data is not present")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty user cache so nothing leaks into ~/.cache or between tests."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VERIFIER_CACHE", str(cache))
    monkeypatch.delenv("VERIFIER_DATA", raising=False)
    return cache


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with a real WordPiece tokenizer, built locally once per session."""
    from tests.helpers import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny_encoder"))
