"""Token-position helpers for pre-tokenised datasets (FewRel, Wiki-ZSL): ``text = " ".join(tokens)``."""

from __future__ import annotations

from verifier.schema import Span


def token_char_offsets(tokens: list[str]) -> list[Span]:
    """Character span of each token in ``" ".join(tokens)``."""
    spans: list[Span] = []
    pos = 0
    for tok in tokens:
        spans.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return spans


def mention_span(tokens: list[str], positions: list[int]) -> tuple[str, Span]:
    """Surface string and character span of a mention given its token indices (contiguous range)."""
    if not positions:
        raise ValueError("empty token positions")
    lo, hi = min(positions), max(positions)
    if lo < 0 or hi >= len(tokens):
        raise ValueError(f"token positions {positions} outside 0..{len(tokens) - 1}")
    offs = token_char_offsets(tokens)
    return " ".join(tokens[lo : hi + 1]), (offs[lo][0], offs[hi][1])
