"""Content-addressed sqlite cache of LLM completions.

The key hashes everything that determines an answer: base URL, model, prompt id and version, the exact
messages and the sampling parameters. The API key is never part of the key or the stored value. A rerun with
the same inputs makes zero requests; ``--refresh`` bypasses reads (fresh answers overwrite the entries).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from verifier.config import ConfigError


class CachedCompletion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    top_logprobs: dict[str, float] | None = None
    """Log-probabilities of the first answer token's alternatives (when the request asked for logprobs)."""


def cache_key(
    base_url: str,
    model: str,
    prompt_id: str,
    prompt_version: int,
    messages: list[dict[str, str]],
    params: dict[str, Any],
) -> str:
    material = {
        "base_url": base_url.rstrip("/"),
        "model": model,
        "prompt_id": prompt_id,
        "prompt_version": prompt_version,
        "messages": messages,
        "params": params,
    }
    return hashlib.sha256(json.dumps(material, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


class CompletionCache:
    """A small sqlite key-value store (WAL mode, safe for several processes)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: no fsync per insert; a process crash loses nothing, a power cut at most the last entries
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS completions "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
            )
        except sqlite3.DatabaseError as e:  # not a database, or damaged: say which file, do not touch it
            self._db.close()
            raise ConfigError(
                f"{self.path}: the completion cache is unreadable ({e}); move it away (or give --cache another "
                "file) and rerun: finished documents are kept in the output and are not asked again"
            ) from None

    def get(self, key: str) -> CachedCompletion | None:
        row = self._db.execute("SELECT value FROM completions WHERE key = ?", (key,)).fetchone()
        return CachedCompletion.model_validate_json(row[0]) if row else None

    def put(self, key: str, value: CachedCompletion) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO completions (key, value, created) VALUES (?, ?, ?)",
            (key, value.model_dump_json(), time.time()),
        )

    def delete(self, keys: list[str]) -> None:
        self._db.executemany("DELETE FROM completions WHERE key = ?", [(k,) for k in keys])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        self._db.close()
