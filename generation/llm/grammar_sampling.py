"""Greedy decoding under a grammar that tries the greedy token first, as llama.cpp's own sampler does.

llama-cpp-python (0.3.36, pinned) builds one sampler chain per request: repetition penalties, then the grammar,
then the greedy pick (``Llama._init_sampler``). The grammar therefore checks *every* vocabulary entry at every
decoded token: 151,936 candidates for Qwen2.5, each decoded to text and run through the grammar's stacks. The
server's own timings put that at 15-20 ms a token beside 31 ms of model compute on 2 cores (docs/results.md,
section 3). llama.cpp's ``common_sampler`` instead samples first and asks the grammar about that one token,
applying the grammar to the whole vocabulary only when the token is rejected.

:class:`GreedyGrammarSampler` does the same for temperature 0, with the same result: the penalties are
llama.cpp's (``logit *= p`` when ``logit <= 0``, else ``logit /= p``, minus the frequency and presence terms, over
the last ``last_n`` generated tokens), the greedy token is the first maximum, and a grammar only masks tokens, so
when it accepts the unconstrained maximum that maximum is also the constrained one. When it rejects it, the grammar
checks the 64 best tokens next (the best one it accepts there is the constrained maximum too), and the whole
vocabulary only when it accepts none of them.
``tests/test_generation/test_grammar_sampling.py`` checks token-for-token identity against llama-cpp-python's
chain on the real 0.5B model.

:func:`install` patches ``Llama._init_sampler`` to return it for greedy requests with a grammar (anything else
keeps the library's chain); ``python -m generation.llm.llama_server`` is llama-cpp-python's server with it
installed, which ``LocalLlamaServer`` starts by default (``sampling="greedy-first"``).
"""

from __future__ import annotations

import ctypes
import inspect
from collections import deque
from collections.abc import Iterable
from typing import Any

import numpy as np

TOKEN_DTYPE = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
"""``llama_token_data`` (int32 id, float logit, float p; 12 bytes) as a numpy record."""


def penalised(logits: np.ndarray, recent: Iterable[int], repeat: float, freq: float, present: float) -> np.ndarray:
    """llama.cpp's penalties sampler on (n_vocab,) float32 logits for the ``recent`` generated tokens: a token seen
    c > 0 times gets ``logit * repeat`` (logit <= 0) or ``logit / repeat``, minus ``c * freq + present``. The input
    is not modified (returned as is when nothing applies)."""
    if repeat == 1 and freq == 0 and present == 0:
        return logits
    ids, counts = np.unique(np.fromiter(recent, dtype=np.int64), return_counts=True)
    if not len(ids):
        return logits
    r, f, pr = np.float32(repeat), np.float32(freq), np.float32(present)
    out = logits.copy()
    v = out[ids]  # (U,) float32
    v = np.where(v <= 0, v * r, v / r).astype(np.float32)
    out[ids] = v - (counts.astype(np.float32) * f + pr)
    return out


class GreedyGrammarSampler:
    """Stands in for the chain [penalties, grammar, greedy]: ``sample(ctx, idx)`` returns the same token."""

    def __init__(
        self,
        vocab: Any,
        n_vocab: int,
        grammar: str,
        root: str,
        last_n: int,
        repeat: float,
        freq: float,
        present: float,
        top_k: int = 64,
    ) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.grammar = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), root.encode("utf-8"))
        if not self.grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self.n_vocab = n_vocab
        self.top_k = top_k
        self.recent: deque[int] = deque(maxlen=max(last_n, 0))
        self.repeat, self.freq, self.present = repeat, freq, present
        self.greedy_accepted = 0
        """Tokens the grammar accepted as the unconstrained greedy pick (one candidate checked)."""
        self.top_checks = 0
        """Tokens found among the ``top_k`` best after the greedy one was rejected."""
        self.full_checks = 0
        """Tokens for which the grammar had to check the whole vocabulary."""

    def _best_accepted(self, ids: np.ndarray, scores: np.ndarray) -> int | None:
        """The highest-scoring of ``ids`` (ascending) that the grammar accepts (ties: the lowest id, as the greedy
        sampler breaks them), or None when it accepts none of them."""
        lib = self._lib
        arr = (lib.llama_token_data * len(ids))()
        view = np.frombuffer(arr, dtype=TOKEN_DTYPE)  # (K,) shares the C array
        view["id"], view["logit"], view["p"] = ids, scores[ids], 0.0
        cur = lib.llama_token_data_array(arr, len(ids), -1, False)
        lib.llama_sampler_apply(self.grammar, ctypes.byref(cur))
        kept = view[: cur.size]
        ok = np.isfinite(kept["logit"])
        return int(kept["id"][ok][np.argmax(kept["logit"][ok])]) if ok.any() else None

    def _top_ids(self, scores: np.ndarray) -> np.ndarray:
        """The ``top_k`` highest scores' ids and every id tied with the k-th, ascending: any token outside scores no
        higher than all of them, so the best accepted among them is the best accepted overall."""
        k = min(self.top_k, self.n_vocab - 1)
        floor = scores[np.argpartition(-scores, k)[:k]].min()
        return np.flatnonzero(scores >= floor).astype(np.int32)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """The next token from the logits at ``idx`` (as ``llama_sampler_sample``), accepted into the grammar."""
        ptr = self._lib.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))  # (V,) the context's own buffer
        scores = penalised(logits, self.recent, self.repeat, self.freq, self.present)
        greedy = np.asarray([np.argmax(scores)], dtype=np.int32)
        if (token := self._best_accepted(greedy, scores)) is not None:
            self.greedy_accepted += 1
        elif (token := self._best_accepted(self._top_ids(scores), scores)) is not None:
            self.top_checks += 1
        else:
            token = self._best_accepted(np.arange(self.n_vocab, dtype=np.int32), scores)
            assert token is not None, "the grammar accepts no token"
            self.full_checks += 1
        self._lib.llama_sampler_accept(self.grammar, token)
        self.recent.append(token)
        return token

    def close(self) -> None:
        if self.grammar:
            self._lib.llama_sampler_free(self.grammar)
            self.grammar = None

    def __del__(self) -> None:
        self.close()


def install() -> None:
    """Make llama-cpp-python use :class:`GreedyGrammarSampler` for greedy requests with a grammar."""
    import llama_cpp

    original = llama_cpp.Llama._init_sampler
    if getattr(original, "_greedy_first", False):
        return
    signature = inspect.signature(original)

    def _init_sampler(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        if a["grammar"] is None or a["temp"] != 0.0 or a["logits_processor"] is not None or a["mirostat_mode"]:
            return original(self, *args, **kwargs)
        return GreedyGrammarSampler(
            self._model.vocab, self._n_vocab, a["grammar"]._grammar, a["grammar"]._root, self.last_n_tokens_size,
            a["repeat_penalty"], a["frequency_penalty"], a["presence_penalty"],
        )  # fmt: skip

    _init_sampler._greedy_first = True  # type: ignore[attr-defined]
    llama_cpp.Llama._init_sampler = _init_sampler
