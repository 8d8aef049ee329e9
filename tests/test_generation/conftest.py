from __future__ import annotations

import pytest

from generation.llm.cache import CompletionCache
from generation.llm.client import LLMClient, LLMSettings
from tests.scripted_server import Reply, ScriptedServer
from verifier.lexicon import lexicon_for


@pytest.fixture
def server():
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def duie_lexicon():
    return lexicon_for("sample", "zh")


def make_client(url: str, tmp_path, **kw) -> LLMClient:
    defaults = dict(
        base_url=url, model="scripted", timeout_s=2.0, max_attempts=4, backoff_initial_s=0.01, backoff_max_s=0.05
    )
    settings = LLMSettings(**{**defaults, **kw})
    return LLMClient(settings, cache=CompletionCache(tmp_path / "cache.sqlite"))


__all__ = ["Reply", "make_client"]
