"""The one place that calls an LLM: cache -> request -> validate -> re-ask.

- Transport: ``AsyncOpenAI(max_retries=0)`` so tenacity is the only retry layer; exponential backoff with
  jitter on 429, 5xx, timeouts and connection errors, honouring ``Retry-After``; a bounded number of attempts.
  Other HTTP errors (400, 401, 404) fail at once.
- Content: the raw answer is parsed and validated by the caller's function; a :class:`ContentError` is shown
  to the model in a re-ask message (bounded). ``finish_reason == "length"`` doubles ``max_tokens`` up to a cap;
  cut off at the cap, the call fails at once (no re-ask: it would spend the whole cap again).
- The final failure is an :class:`LLMCallError` carrying the reason, the attempt count and the last raw answer.
- API keys are read from the environment at client construction and never stored, cached or logged.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import logging
import math
import os
import re
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import openai
from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from generation.llm.cache import CachedCompletion, CompletionCache, cache_key
from generation.llm.presets import SchemaFormat
from generation.llm.prompts import PromptTemplate
from generation.llm.structured import ContentError
from verifier.config import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")


class RequestOptions(BaseModel):
    """How each request is made and retried: declared once, shared by ``LLMSettings`` and the ``generate`` stage's
    flags (``GenerateConfig``)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    temperature: float = Field(0.0, ge=0, le=2)
    """Sampling temperature (0: greedy, the same answer on a rerun)."""
    max_tokens: int = Field(1024, ge=1)
    """Completion budget of the first request."""
    max_tokens_cap: int = Field(4096, ge=1)
    """A cut-off answer is asked again with twice the budget, up to this cap; cut off at the cap, the document
    fails at once (small local models can loop until the cap: set the cap to --max-tokens to never escalate)."""
    timeout_s: float = Field(60.0, gt=0)
    """Seconds one HTTP request may take before it counts as a failed attempt."""
    max_attempts: int = Field(5, ge=1)
    """Transport attempts per request (first try included)."""
    max_reasks: int = Field(2, ge=0)
    """Re-asks after an invalid answer."""
    rpm: float | None = Field(None, gt=0)
    """Requests per minute (None: unlimited)."""
    repeat_penalty: float | None = Field(None, gt=0)
    """llama.cpp's penalty on tokens repeated within the last 64 (1.0: none). Sent only when set: llama-cpp-python's
    server applies 1.1 to a request that names none, and the online APIs take no such parameter."""


class LLMSettings(RequestOptions):
    model_config = ConfigDict(extra="forbid")

    base_url: str
    model: str
    cache_scope: str | None = None
    """The endpoint's identity in the completion cache (default: ``base_url``). A local llama.cpp server gets a new
    port each run, so ``--llm local`` uses ``local:<gguf file>`` and a rerun hits the cache."""
    api_key_env: str | None = None
    json_mode: bool = True
    schema_format: SchemaFormat | None = None
    """How a JSON schema for the answer is sent when the caller gives one (``Preset.schema_format``)."""
    reasoner: bool = False
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    """Cap of our own exponential backoff (no ``Retry-After`` from the server)."""
    retry_after_max_s: float = 300.0
    """Cap of a server's ``Retry-After`` (seconds or an HTTP date). A rate-limited endpoint that asks for 60 s and is
    retried after 30 answers 429 again and burns an attempt; beyond this cap the wait is this cap."""


class LLMCallError(RuntimeError):
    def __init__(self, reason: str, attempts: int, last_response: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.last_response = last_response


class LLMAuthError(LLMCallError, ConfigError):
    """401/403: the credentials are wrong for every document, so the run stops (exit 2) instead of paying for a
    request per document."""


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    transport_retries: int = 0
    reasks: int = 0


class CallResult(BaseModel, Generic[T]):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    value: Any
    attempts: int
    raw: str


class RateLimiter:
    """At most ``rpm`` request starts per minute, spaced evenly."""

    def __init__(self, rpm: float | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APITimeoutError | openai.APIConnectionError | openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (RFC 9110 10.2.3: delay-seconds or an HTTP date), else None."""
    resp = getattr(exc, "response", None)
    value = resp.headers.get("retry-after") if resp is not None else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


class LLMClient:
    """Async chat client with caching, transport retries and validated, re-asked structured answers."""

    def __init__(self, settings: LLMSettings, cache: CompletionCache | None = None, refresh: bool = False) -> None:
        self.settings = settings
        self.cache = cache
        self.refresh = refresh
        self.usage = Usage()
        if settings.api_key_env and not _ENV_NAME.fullmatch(settings.api_key_env):
            # never echo it: a key pasted where the variable's name belongs would land in logs
            raise ConfigError("--api-key-env takes the NAME of an environment variable that holds the key, not the key")
        key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        if settings.api_key_env and not key:
            raise ConfigError(f"environment variable {settings.api_key_env} is not set (it must hold the API key)")
        self._secret = key
        self._client = openai.AsyncOpenAI(
            base_url=settings.base_url, api_key=key or "not-needed", max_retries=0, timeout=settings.timeout_s
        )
        self._limiter = RateLimiter(settings.rpm)
        self._jitter = wait_exponential_jitter(multiplier=settings.backoff_initial_s, max=settings.backoff_max_s)

    def redact(self, text: str) -> str:
        """``text`` with the API key's value replaced (a server error body may echo it)."""
        return text.replace(self._secret, "[redacted]") if self._secret and text else text

    def _wait(self, state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = _retry_after(exc) if exc is not None else None
        if after is not None:
            return min(after, self.settings.retry_after_max_s)
        return self._jitter(state)

    def _params(self, max_tokens: int, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        p: dict[str, Any] = {"temperature": self.settings.temperature, "max_tokens": max_tokens}
        if self.settings.repeat_penalty is not None:  # outside the OpenAI API: in the body as it is
            p["extra_body"] = {"repeat_penalty": self.settings.repeat_penalty}
        if self.settings.reasoner:  # reasoners take no response format
            return p
        fmt = self.settings.schema_format if schema is not None else None
        if fmt == "llama_cpp":
            p["response_format"] = {"type": "json_object", "schema": schema}
        elif fmt == "openai":
            p["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema, "strict": True},
            }
        elif self.settings.json_mode:
            p["response_format"] = {"type": "json_object"}
        return p

    async def _request(self, messages: list[dict[str, str]], params: dict[str, Any]) -> CachedCompletion:
        attempt_no = 0

        async def once() -> CachedCompletion:
            nonlocal attempt_no
            attempt_no += 1
            if attempt_no > 1:
                self.usage.transport_retries += 1
            await self._limiter.wait()
            self.usage.requests += 1
            resp = await self._client.chat.completions.create(model=self.settings.model, messages=messages, **params)
            usage = resp.usage
            if usage is not None:
                self.usage.prompt_tokens += usage.prompt_tokens or 0
                self.usage.completion_tokens += usage.completion_tokens or 0
            choice = resp.choices[0] if resp.choices else None
            first = None
            if choice is not None and getattr(choice, "logprobs", None) is not None and choice.logprobs.content:
                first = {t.token: float(t.logprob) for t in choice.logprobs.content[0].top_logprobs or []}
            return CachedCompletion(
                content=(choice.message.content or "") if choice else "",
                finish_reason=choice.finish_reason if choice else None,
                prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
                completion_tokens=(usage.completion_tokens or 0) if usage else 0,
                top_logprobs=first,
            )

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(_retryable),
                wait=self._wait,
                stop=stop_after_attempt(self.settings.max_attempts),
                reraise=True,
            ):
                with attempt:
                    return await once()
        except openai.APIError as e:
            status = getattr(e, "status_code", None)
            kind = f"HTTP {status}" if status else type(e).__name__
            reason = self.redact(f"transport: {kind} after {attempt_no} attempt(s): {str(e)[:200]}")
            if status in (401, 403):
                raise LLMAuthError(f"{reason} (the API key was refused; the run stops)", attempt_no) from None
            raise LLMCallError(reason, attempt_no) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def complete(
        self,
        messages: list[dict[str, str]],
        prompt: PromptTemplate,
        max_tokens: int,
        extra: dict[str, Any] | None = None,
        schema: dict[str, Any] | None = None,
    ) -> CachedCompletion:
        """One completion, from the cache when possible; ``extra``: more request parameters (e.g. logprobs);
        ``schema``: the answer's JSON schema, sent as the endpoint takes it (``LLMSettings.schema_format``)."""
        key = self._cache_key(messages, prompt, max_tokens, extra, schema)
        if self.cache is not None and not self.refresh:
            hit = self.cache.get(key)
            if hit is not None:
                self.usage.cache_hits += 1
                return hit
        comp = await self._request(messages, {**self._params(max_tokens, schema), **(extra or {})})
        if self.cache is not None:
            self.cache.put(key, comp)
        return comp

    def _cache_key(
        self,
        messages: list[dict[str, str]],
        prompt: PromptTemplate,
        max_tokens: int,
        extra: dict[str, Any] | None,
        schema: dict[str, Any] | None = None,
    ) -> str:
        params = {**self._params(max_tokens, schema), **(extra or {})}
        scope = self.settings.cache_scope or self.settings.base_url
        return cache_key(scope, self.settings.model, prompt.prompt_id, prompt.version, messages, params)

    def _forget(self, keys: list[str]) -> None:
        """Drop a failed conversation's answers from the cache, so the next run really asks again."""
        if self.cache is not None and keys:
            self.cache.delete(keys)

    async def structured(
        self,
        messages: list[dict[str, str]],
        prompt: PromptTemplate,
        validate: Callable[[str], T],
        reask: PromptTemplate,
        schema: dict[str, Any] | None = None,
    ) -> CallResult[T]:
        """Ask until ``validate(raw)`` succeeds: re-ask with the error shown (at most ``max_reasks`` times)."""
        msgs = list(messages)
        max_tokens = self.settings.max_tokens
        reasks = attempts = 0
        last_raw = ""
        asked: list[str] = []  # cache keys of this conversation's answers
        while True:
            attempts += 1
            asked.append(self._cache_key(msgs, prompt, max_tokens, None, schema))
            comp = await self.complete(msgs, prompt, max_tokens, schema=schema)
            last_raw = comp.content
            if comp.finish_reason == "length" and max_tokens < self.settings.max_tokens_cap:
                max_tokens = min(self.settings.max_tokens_cap, max_tokens * 2)
                log.debug("answer truncated; retrying with max_tokens=%d", max_tokens)
                continue
            if comp.finish_reason == "length":
                # A re-ask would repeat the whole budget on a longer conversation; a model that loops loops again.
                self._forget(asked)
                raise LLMCallError(
                    f"the answer was cut off at max_tokens={max_tokens} (the cap)", attempts, self.redact(last_raw)
                )
            try:
                return CallResult(value=validate(comp.content), attempts=attempts, raw=comp.content)
            except ContentError as e:
                if reasks >= self.settings.max_reasks:
                    self._forget(asked)
                    raise LLMCallError(
                        self.redact(f"invalid answer after {attempts} attempt(s): {e}"), attempts, self.redact(last_raw)
                    ) from None
                reasks += 1
                self.usage.reasks += 1
                msgs = [*msgs, {"role": "assistant", "content": comp.content}, *reask.render(error=str(e))]

    async def aclose(self) -> None:
        await self._client.close()
