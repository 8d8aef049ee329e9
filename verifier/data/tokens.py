"""Token-position helpers for pre-tokenised datasets (FewRel, Wiki-ZSL): ``text = " ".join(tokens)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from verifier.io import InputError
from verifier.schema import GoldRecord, Span, Triple


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


def token_triple(tokens: list[str], head_pos: list[int], tail_pos: list[int], pid: str, name: str) -> Triple:
    """A triple whose mentions are given as token positions (``ValueError`` when they are unusable)."""
    head, hspan = mention_span(tokens, head_pos)
    tail, tspan = mention_span(tokens, tail_pos)
    return Triple(head=head, relation=name, relation_id=pid, tail=tail, head_span=hspan, tail_span=tspan)


def token_record(doc_id: str, tokens: list[str], source: str, triples: list[Triple]) -> GoldRecord:
    """An English gold record whose text is its tokens joined by single spaces."""
    return GoldRecord(doc_id=doc_id, text=" ".join(tokens), tokens=tokens, lang="en", source=source, triples=triples)


def gather_triples(
    items: Iterable[Any], build: Callable[[Any], Triple], where: tuple[Any, int, str, str], skipped: list[str] | None
) -> list[Triple]:
    """``build`` each item; an item it cannot build (KeyError, TypeError, ValueError) stops the run with a located
    ``InputError`` (``where`` = path, line, field, what one item is: ``path:line: field[j]: bad <item> (...)``) or,
    with ``skipped`` given, is recorded there as that located message and dropped."""
    path, line, field, noun = where
    out = []
    for j, item in enumerate(items):
        try:
            out.append(build(item))
        except (KeyError, TypeError, ValueError) as e:
            err = InputError(path, line, f"{field}[{j}]", f"bad {noun} ({e})")
            if skipped is None:
                raise err from None
            skipped.append(str(err))
    return out
