"""The shared transformer encoder E(.) (CACRE section 2.2): any Hugging Face encoder through ``AutoModel``.

The hidden size H is read from the HF config. Texts (max 128 tokens) and linearised triples are encoded
separately; the encoder returns token states and the attention mask, never a pooled vector.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn


class TextEncoder(nn.Module):
    """Wraps ``AutoModel`` + its tokenizer; ``forward`` takes tokenised batches."""

    def __init__(self, model: nn.Module, tokenizer: object) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer

    @classmethod
    def from_name(cls, name: str) -> TextEncoder:
        """Load from a local path, an offline alias (e5-small) or a hub name (online users)."""
        from transformers import AutoModel, AutoTokenizer

        from verifier.provision.registry import resolve_model

        path = resolve_model(name)
        return cls(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path))

    @classmethod
    def from_config_dir(cls, directory: str | os.PathLike[str]) -> TextEncoder:
        """Architecture (config.json) and tokenizer only; weights are loaded by the caller."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        d = Path(directory)
        return cls(AutoModel.from_config(AutoConfig.from_pretrained(d)), AutoTokenizer.from_pretrained(d))

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str], max_length: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
        return self.tokenizer(  # type: ignore[operator]
            texts,
            padding="max_length" if pad_to else True,
            truncation=True,
            max_length=pad_to or max_length,
            return_tensors="pt",
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kw: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and mask -> (B, L, H) token states."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
        return out.last_hidden_state

    def freeze_bottom(self, n_layers: int) -> None:
        """Freeze the embeddings and the lowest ``n_layers`` layers (cheap CPU training)."""
        if n_layers <= 0:
            return
        base = getattr(self.model, "base_model", self.model)
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
        for layer in base.encoder.layer[:n_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
