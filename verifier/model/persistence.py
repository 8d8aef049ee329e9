"""Saving and loading encoder-based models as folders: ``config.json`` (the model's pydantic config),
``model.safetensors`` (the whole state dict, never pickle) and ``encoder/`` (the HF config and tokenizer, so
the architecture is rebuilt offline without downloading anything)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import BaseModel
from torch import nn

M = TypeVar("M", bound=nn.Module)


class SavedModelMixin:
    """``save_pretrained`` / ``from_pretrained`` for modules built as ``cls(config, encoder)``."""

    config_class: type[BaseModel]

    def _bind(self, config: Any, encoder: Any) -> None:
        """Keep the config and the encoder; the config records the encoder's hidden size (read, never set)."""
        config.hidden_size = encoder.hidden_size
        self.config = config
        self.encoder = encoder

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device  # type: ignore[attr-defined]

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        from safetensors.torch import save_file

        from verifier.decision import forget_gates

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        forget_gates(d)  # thresholds calibrated for the weights being replaced
        cfg: BaseModel = self.config  # type: ignore[attr-defined]
        (d / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        save_file(
            state,
            str(d / "model.safetensors"),
            metadata={"format": "pt", "model_type": str(getattr(cfg, "model_type", ""))},
        )
        self.encoder.model.config.save_pretrained(d / "encoder")  # type: ignore[attr-defined]
        self.encoder.tokenizer.save_pretrained(d / "encoder")  # type: ignore[attr-defined]
        return d

    @classmethod
    def from_pretrained(cls: Any, directory: str | os.PathLike[str], map_location: str = "cpu") -> Any:
        from safetensors.torch import load_file

        from verifier.io import InputError, parse_record
        from verifier.model.encoder import TextEncoder

        d = Path(directory)
        cfg = parse_record(cls.config_class, read_model_config(d), d / "config.json", 0)
        for part in ("encoder", "model.safetensors"):
            if not (d / part).exists():
                raise InputError(d / part, 0, "path", "missing: the model folder is incomplete (save it again)")
        encoder = TextEncoder.from_config_dir(d / "encoder")
        if len(encoder.tokenizer) > encoder.model.get_input_embeddings().num_embeddings:  # added marker tokens
            encoder.model.resize_token_embeddings(len(encoder.tokenizer))
        model = cls(cfg, encoder)
        try:
            state = load_file(str(d / "model.safetensors"), device=map_location)
        except Exception as e:  # safetensors raises its own error type for a truncated or foreign file
            raise InputError(d / "model.safetensors", 0, "weights", f"unreadable ({e})") from None
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise InputError(d / "model.safetensors", 0, "weights", f"do not match config.json: {first}") from None
        return model.eval()


def read_model_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """A saved model's config.json as a dict; a folder without one is a located error."""
    from verifier.io import InputError, read_json

    path = Path(directory) / "config.json"
    if not path.exists():
        raise InputError(path, 0, "path", "not a verifier folder (no config.json); train one with `verifier train`")
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(path, 0, "record", "expected a JSON object")
    return data
