"""Endpoint presets: base URL, model, the environment variable holding the key, capabilities and prices.

Prices are list prices in USD per million tokens (input, output) as published by the providers in 2025; they
only feed the cost estimate in the run summary and can be overridden with ``--price-in/--price-out``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

SchemaFormat = Literal["llama_cpp", "openai"]


class Preset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    base_url: str | None
    model: str | None
    api_key_env: str | None
    json_mode: bool = True
    """Send ``response_format={"type": "json_object"}``."""
    schema_format: SchemaFormat | None = None
    """How the endpoint takes a JSON schema for the answer (``--constrain schema``): ``llama_cpp`` =
    ``response_format={"type": "json_object", "schema": ...}`` (llama-cpp-python's server turns it into a grammar);
    ``openai`` = ``{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`` (OpenAI, vLLM, llama.cpp's
    own server); None = the endpoint documents JSON mode only (DeepSeek, DashScope), so it gets no schema."""
    reasoner: bool = False
    """Emits ``<think>`` reasoning; no JSON mode; the last message must be the user's."""
    price_in: float = 0.0
    price_out: float = 0.0
    local: bool = False
    """The tool starts llama.cpp's OpenAI-compatible server itself."""


DASHSCOPE = "https://dashscope.aliyuncs.com/compatible-mode/v1"


def _dashscope(model: str, price_in: float, price_out: float) -> Preset:
    """A Qwen model on Alibaba's DashScope (OpenAI-compatible mode; JSON mode, no schema)."""
    return Preset(
        name=model, base_url=DASHSCOPE, model=model, api_key_env="DASHSCOPE_API_KEY", price_in=price_in,
        price_out=price_out,
    )  # fmt: skip


PRESETS: dict[str, Preset] = {
    "deepseek-v3": Preset(
        name="deepseek-v3",
        base_url="https://api.deepseek.com",
        model="deepseek-chat",
        api_key_env="DEEPSEEK_API_KEY",
        price_in=0.27,
        price_out=1.10,
    ),
    "deepseek-r1": Preset(
        name="deepseek-r1",
        base_url="https://api.deepseek.com",
        model="deepseek-reasoner",
        api_key_env="DEEPSEEK_API_KEY",
        json_mode=False,
        reasoner=True,
        price_in=0.55,
        price_out=2.19,
    ),
    "qwen-plus": _dashscope("qwen-plus", 0.4, 1.2),
    "qwen-max": _dashscope("qwen-max", 1.6, 6.4),
    "qwen-turbo": _dashscope("qwen-turbo", 0.05, 0.2),
    "openai-compatible": Preset(
        name="openai-compatible", base_url=None, model=None, api_key_env=None, schema_format="openai"
    ),
    "local": Preset(
        name="local", base_url=None, model="qwen2.5-coder-0.5b", api_key_env=None, local=True, schema_format="llama_cpp"
    ),
}


def cost_usd(preset: Preset, prompt_tokens: int, completion_tokens: int) -> float:
    return (prompt_tokens * preset.price_in + completion_tokens * preset.price_out) / 1e6
