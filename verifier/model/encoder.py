"""The shared transformer encoder E(.) (CACRE section 2.2): any Hugging Face encoder through ``AutoModel``.

The hidden size H is read from the HF config. Texts (max 128 tokens) and linearised triples are encoded
separately; the encoder returns token states and the attention mask, never a pooled vector.

Frozen-state cache. When every encoder layer is frozen (``freeze_bottom`` with N >= the number of layers),
the states of a token sequence never change, so ``enable_state_cache`` memoises them per sequence of real
token ids: each distinct text or triple is encoded once per run, and training the heads costs what the heads
cost (the reason CPU training of CACRE heads is feasible). The encoder then stays in eval mode (no dropout),
and padded positions come back as zeros (every consumer masks them). ``first_token`` memoises only the first
token's state (H floats instead of n x H): what a cross-encoder's classifier reads.
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
        self._cache: dict[bytes, torch.Tensor] | None = None
        self.cache_hits = 0
        self.cache_misses = 0

    @classmethod
    def from_name(cls, name: str) -> TextEncoder:
        """Load from a local path, an offline alias (e5-small) or a hub name (online users)."""
        from transformers import AutoModel, AutoTokenizer

        from verifier.config import ConfigError
        from verifier.provision.registry import resolve_model

        path = resolve_model(name)
        looks_local = os.path.isabs(str(path)) or str(path).startswith((".", "~"))
        if looks_local and not Path(path).expanduser().is_dir():
            raise ConfigError(f"--encoder {name}: no such folder (give a local model folder, an alias or a hub name)")
        try:
            return cls(AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path))
        except OSError as e:  # offline without the files, a folder without config.json, a misspelt hub name
            raise ConfigError(f"--encoder {name}: cannot load it ({' '.join(str(e).split())[:300]})") from None

    @classmethod
    def from_config_dir(cls, directory: str | os.PathLike[str]) -> TextEncoder:
        """Architecture (config.json) and tokenizer only; weights are loaded by the caller."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        d = Path(directory)
        # local_files_only: a saved model never goes to the Hub (a bad folder must not become a repo id)
        return cls(
            AutoModel.from_config(AutoConfig.from_pretrained(d, local_files_only=True)),
            AutoTokenizer.from_pretrained(d, local_files_only=True),
        )

    @property
    def mask_token(self) -> str:
        """The tokenizer's mask token ([MASK] / <mask>); "[MASK]" when it has none."""
        return getattr(self.tokenizer, "mask_token", None) or "[MASK]"

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
        if self._cache is not None and not kw:
            return self._cached_forward(input_ids, attention_mask)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
        return out.last_hidden_state

    @property
    def fully_frozen(self) -> bool:
        return not any(p.requires_grad for n, p in self.model.named_parameters() if "pooler" not in n)

    @property
    def state_cache_enabled(self) -> bool:
        return self._cache is not None

    def enable_state_cache(self) -> None:
        """Memoise token states per sequence (only valid while the encoder is fully frozen)."""
        if not self.fully_frozen:
            raise ValueError("the state cache needs a fully frozen encoder (freeze all layers)")
        self._cache = {}
        self.model.eval()

    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        if self._cache is not None:
            self.model.eval()  # cached states were computed without dropout
        return self

    def first_token(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and mask -> (B, H) state of the first token ([CLS] / <s>); cached per sequence when enabled."""
        if self._cache is None:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
        return self._cached_forward(input_ids, attention_mask, first_only=True)

    @torch.no_grad()
    def _cached_forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, first_only: bool = False
    ) -> torch.Tensor:
        """Token states (B, L, H) or, with ``first_only``, first-token states (B, H), each sequence encoded once."""
        assert self._cache is not None
        lengths = attention_mask.sum(-1).tolist()  # right padding: the real tokens come first
        ids = input_ids.cpu().numpy()  # one device->host copy per batch
        tag = b"first:" if first_only else b""  # the two kinds of entry never share a key
        keys = [tag + ids[i, :n].tobytes() for i, n in enumerate(lengths)]
        todo: dict[bytes, int] = {}  # missing sequence -> its first row
        for i, k in enumerate(keys):
            if k not in self._cache:
                todo.setdefault(k, i)
        self.cache_misses += len(todo)
        self.cache_hits += len(keys) - len(todo)
        if todo:
            rows = torch.tensor(list(todo.values()), device=input_ids.device)
            width = max(lengths[i] for i in todo.values())
            h = self.model(input_ids=input_ids[rows, :width], attention_mask=attention_mask[rows, :width])
            for j, (k, i) in enumerate(todo.items()):
                state = h.last_hidden_state[j, 0] if first_only else h.last_hidden_state[j, : lengths[i]]
                self._cache[k] = state.clone()  # (H,) or (n_i, H)
        if first_only:
            return torch.stack([self._cache[k] for k in keys])  # (B, H)
        out = torch.nn.utils.rnn.pad_sequence([self._cache[k] for k in keys], batch_first=True)  # (B, max n, H)
        out = torch.nn.functional.pad(out, (0, 0, 0, input_ids.shape[1] - out.shape[1]))
        return out  # (B, L, H)

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
