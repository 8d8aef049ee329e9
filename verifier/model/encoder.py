"""The shared transformer encoder E(.) (CACRE section 2.2): any Hugging Face encoder through ``AutoModel``.

The hidden size H is read from the HF config. Texts (max 128 tokens) and linearised triples are encoded
separately; the encoder returns token states and the attention mask, never a pooled vector.

Frozen-state cache. When every encoder layer is frozen (``freeze_bottom`` with N >= the number of layers),
the states of a token sequence never change, so ``enable_state_cache`` memoises them per sequence of real
token ids: each distinct text or triple is encoded once per run, and training the heads costs what the heads
cost (the reason CPU training of CACRE heads is feasible). The encoder then stays in eval mode (no dropout),
and padded positions come back as zeros (every consumer masks them). ``first_token`` memoises only the first
token's state (H floats instead of n x H): what a cross-encoder's classifier reads.

Lower-layer cache. When only the embeddings and the lowest k layers are frozen, ``enable_lower_cache(k)``
memoises the states after them per sequence (packed in bf16 per batch: per-sequence fp32 copies fragmented the
allocator and an early CPU run grew to 16.5 GB, docs/results.md section 0), and ``forward`` runs only the layers
above on them. It is the one cache of every model that trains the top of an encoder: late fusion (which runs the
upper layers over a text and a triple joined, through ``lower_states`` / ``upper_states``) and the zero-shot
matchers (through ``forward``). The frozen lower layers then run in eval mode (no dropout).
"""

from __future__ import annotations

import itertools
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
        self._lower: dict[bytes, torch.Tensor] | None = None
        self.n_lower = 0
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

    def tokenize(
        self, texts: list[str], max_length: int, pad_to: int | None = None, offsets: bool = False
    ) -> dict[str, torch.Tensor]:
        """ids and mask (B, L); with ``offsets`` also each token's character span (B, L, 2), (0, 0) for special
        tokens and padding."""
        return self.tokenizer(  # type: ignore[operator]
            texts,
            padding="max_length" if pad_to else True,
            truncation=True,
            max_length=pad_to or max_length,
            return_tensors="pt",
            return_offsets_mapping=offsets,
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kw: torch.Tensor) -> torch.Tensor:
        """(B, L) ids and mask -> (B, L, H) token states."""
        if self._cache is not None and not kw:
            return self._cached_forward(input_ids, attention_mask)
        if self._lower is not None and not kw:
            h, m = self.lower_states(input_ids, attention_mask)
            return self.upper_states(h, m)
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kw)
        return out.last_hidden_state

    @property
    def base(self) -> nn.Module:
        """The bare transformer (``embeddings``, ``encoder.layer``) under any task head."""
        return getattr(self.model, "base_model", self.model)

    @property
    def n_layers(self) -> int:
        return len(self.base.encoder.layer)

    def enable_lower_cache(self, n_lower: int) -> None:
        """Memoise the states after the embeddings and the lowest ``n_lower`` layers per sequence (they must be
        frozen: ``freeze_bottom(n_lower)``); ``forward`` then computes only the layers above."""
        base = self.base
        if not 0 <= n_lower <= self.n_layers:
            raise ValueError(f"n_lower={n_lower}: the encoder has {self.n_layers} layers")
        frozen = [*base.embeddings.parameters(), *(p for la in base.encoder.layer[:n_lower] for p in la.parameters())]
        if any(p.requires_grad for p in frozen):
            raise ValueError(f"the lower-layer cache needs the embeddings and the lowest {n_lower} layers frozen")
        self._lower = {}
        self.n_lower = n_lower

    @property
    def cached_sequences(self) -> int:
        """How many distinct sequences the lower-layer cache holds."""
        return len(self._lower or {})

    @staticmethod
    def extended_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """(B, L) bool -> (B, 1, 1, L) additive mask (0 for real keys, the dtype's minimum for padding)."""
        return (~mask)[:, None, None, :].to(dtype) * torch.finfo(dtype).min

    def _lookup(
        self, ids: torch.Tensor, attention_mask: torch.Tensor, cache: dict[bytes, torch.Tensor], tag: bytes = b""
    ) -> tuple[list[int], list[bytes], dict[bytes, int]]:
        """Each row's real length and cache key (its real token ids), and the missing keys -> their first row;
        counts hits and misses. ``ids``: (B, L) on the host (one device->host copy per batch)."""
        lengths = attention_mask.sum(-1).tolist()  # right padding: the real tokens come first
        arr = ids.numpy()
        keys = [tag + arr[i, :n].tobytes() for i, n in enumerate(lengths)]
        todo: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            if k not in cache:
                todo.setdefault(k, i)
        self.cache_misses += len(todo)
        self.cache_hits += len(keys) - len(todo)
        return lengths, keys, todo

    @torch.no_grad()
    def lower_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) ids and mask -> states after the frozen lower layers (B, L, H) float32 and mask (B, L) bool, on
        the encoder's device; each distinct sequence is computed once (eval mode) and cached."""
        assert self._lower is not None, "enable_lower_cache first"
        device = next(self.model.parameters()).device
        ids = input_ids.cpu()
        lengths, keys, todo = self._lookup(ids, attention_mask, self._lower)
        if todo:
            rows = torch.tensor(list(todo.values()))
            width = max(lengths[i] for i in todo.values())
            sub_ids = ids[rows, :width].to(device)
            sub_mask = attention_mask.cpu()[rows, :width].to(device)
            base = self.base
            was_training = base.training
            base.eval()
            h = base.embeddings(input_ids=sub_ids)  # (U, W, H)
            ext = self.extended_mask(sub_mask.bool(), h.dtype)
            for layer in base.encoder.layer[: self.n_lower]:
                h = layer_out(layer(h, attention_mask=ext))
            base.train(was_training)
            # One packed bf16 block per batch, the cache holding views into it (see the module docstring).
            n_real = [lengths[i] for i in todo.values()]
            packed = torch.cat([h[j, :n] for j, n in enumerate(n_real)]).to(torch.bfloat16)  # (sum n_i, H)
            offsets = [0, *itertools.accumulate(n_real)]
            for j, k in enumerate(todo):
                self._lower[k] = packed[offsets[j] : offsets[j + 1]]  # (n_i, H) view
        out = nn.utils.rnn.pad_sequence([self._lower[k] for k in keys], batch_first=True).float()  # (B, max n, H)
        out = nn.functional.pad(out, (0, 0, 0, input_ids.shape[1] - out.shape[1]))  # (B, L, H)
        m = torch.arange(out.shape[1])[None, :] < torch.tensor(lengths)[:, None]  # (B, L)
        return out.to(device), m.to(device)

    def upper_states(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, L, H) lower states and (B, L) bool mask -> the states after the layers above ``n_lower``."""
        ext = self.extended_mask(mask, h.dtype if not torch.is_autocast_enabled() else torch.float32)
        for layer in self.base.encoder.layer[self.n_lower :]:
            h = layer_out(layer(h, attention_mask=ext))  # (B, L, H)
        return h

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
        tag = b"first:" if first_only else b""  # the two kinds of entry never share a key
        lengths, keys, todo = self._lookup(input_ids.cpu(), attention_mask, self._cache, tag)
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
        base = self.base
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
        for layer in base.encoder.layer[:n_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)


def layer_out(out: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    """A transformers layer returns its hidden states alone or first in a tuple, depending on the version."""
    return out[0] if isinstance(out, tuple) else out
