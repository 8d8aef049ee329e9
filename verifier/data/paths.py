"""Where datasets live: ``--data-dir``, then ``$VERIFIER_DATA``, then ``../shared/data``, then the user cache.

Official full files fetched with ``verifier data fetch`` go to the user cache (``<cache>/data``), which is
always searched as a fallback location, so a fetched full split is found even when a read-only
``../shared/data`` with only partial samples is the resolved directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from verifier.config import cache_dir

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_candidates() -> list[Path]:
    """``../shared/data`` beside the working directory and beside the source checkout."""
    return [Path.cwd().parent / "shared" / "data", _REPO_ROOT.parent / "shared" / "data"]


def cache_data_dir() -> Path:
    """The user-cache data directory (target of ``verifier data fetch``)."""
    return cache_dir() / "data"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Pick the data directory in the documented order; the cache dir is returned even if empty."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("VERIFIER_DATA")
    if env:
        return Path(env).expanduser()
    for cand in shared_data_candidates():
        if cand.is_dir():
            return cand.resolve()
    return cache_data_dir()


def search_roots(explicit: str | os.PathLike[str] | None = None) -> list[Path]:
    """Directories searched for dataset files, in priority order, without duplicates."""
    roots: list[Path] = []
    for r in (resolve_data_dir(explicit), cache_data_dir()):
        if r not in roots:
            roots.append(r)
    return roots
