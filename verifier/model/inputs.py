"""Model inputs: triple linearisation and entity-mention masking.

Linearisation (configurable):
- ``plain``: ``head / relation / tail`` (the separators keep the three slots apart);
- ``typed``: the knowledge-injected template of CLoCE section 3.2, "the relation of [type1] [head] and
  [type2] [tail] is [relation]" (Chinese: ``[类型1]头实体与[类型2]尾实体的关系是关系``); entity types come from
  the triple (filled from the relation schema by the loaders); a missing type is left out.

Entity masking (context-or-names, section "learn from context"): with probability ``p`` the mentions of the
head and tail in the text are replaced by a mask string, so the verifier must read the context rather than
memorise names.

Entity markers (``mention_marks``): which text tokens lie inside an occurrence of the candidate's head or tail, the
input of late fusion's marker embeddings (``FusionConfig.entity_markers``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, model_validator

from verifier.model.configs import Linearization
from verifier.schema import Candidate, Triple


class Pairs(BaseModel):
    """What every verifier scores (``Verifier.score_pairs``): (text, triple, language) pairs and, where S_tt is
    wanted, each triple's second view (``views[i]`` None, or no ``views``: S_tt is NaN for that pair)."""

    model_config = ConfigDict(frozen=True)

    texts: list[str]
    triples: list[Triple]
    langs: list[str]
    views: list[Triple | None] | None = None

    @model_validator(mode="after")
    def _same_length(self) -> Pairs:
        n = len(self.texts)
        if len(self.triples) != n or len(self.langs) != n or (self.views is not None and len(self.views) != n):
            raise ValueError("texts, triples, langs and views must have one entry per pair")
        return self

    @classmethod
    def of(cls, rows: Sequence[Candidate], views: list[Triple | None] | None = None) -> Pairs:
        """The pairs of candidate rows (their text, triple and language)."""
        return cls(
            texts=[r.text for r in rows], triples=[r.triple for r in rows], langs=[r.lang for r in rows], views=views
        )

    def __len__(self) -> int:
        return len(self.texts)

    def view_rows(self) -> list[int]:
        """Indices of the pairs that have a view."""
        return [i for i, v in enumerate(self.views or []) if v is not None]


def linearize(t: Triple, mode: Linearization = "plain", lang: str = "zh") -> str:
    if mode == "plain":
        return f"{t.head} / {t.relation} / {t.tail}"
    if lang == "zh":
        h = f"[{t.head_type}]{t.head}" if t.head_type else t.head
        tl = f"[{t.tail_type}]{t.tail}" if t.tail_type else t.tail
        return f"{h}与{tl}的关系是{t.relation}"
    h = f"{t.head_type} {t.head}" if t.head_type else t.head
    tl = f"{t.tail_type} {t.tail}" if t.tail_type else t.tail
    return f"the relation of {h} and {tl} is {t.relation}"


def mask_mentions(text: str, mentions: list[str], mask: str) -> str:
    """Replace every occurrence of each mention (longest first) by ``mask``."""
    for m in sorted({m for m in mentions if m}, key=len, reverse=True):
        text = text.replace(m, mask)
    return text


def maybe_mask(text: str, t: Triple, p: float, mask: str, rng: random.Random) -> str:
    return mask_mentions(text, [t.head, t.tail], mask) if p > 0 and rng.random() < p else text


MARK_NONE, MARK_HEAD, MARK_TAIL, MARK_BOTH = 0, 1, 2, 3
"""Marker ids of a text token: outside both mentions, inside the head's, the tail's, or both (head == tail)."""


def find_all(text: str, mention: str, start: int = 0, fold: bool = False) -> list[tuple[int, int]]:
    """Character spans [s, e) of every occurrence of ``mention`` in ``text[start:]``, overlapping ones included.
    ``fold``: case-insensitive ('Paris' finds 'paris'), kept only where casefold keeps the lengths (CJK, ASCII)."""
    if fold:
        hay, needle = text.casefold(), mention.casefold()
        if len(hay) == len(text) and len(needle) == len(mention):
            text, mention = hay, needle
    spans = []
    while mention and (i := text.find(mention, start)) >= 0:
        spans.append((i, i + len(mention)))
        start = i + 1
    return spans


def mention_marks(text: str, offsets: Sequence[tuple[int, int]], head: str, tail: str, start: int = 0) -> list[int]:
    """One marker id per token (``offsets``: the tokens' character spans in ``text``, (0, 0) for special tokens):
    bit 1 if the token overlaps an occurrence of ``head``, bit 2 if it overlaps one of ``tail``. ``start`` skips a
    prefix (e5's ``passage: ``)."""
    spans = [(MARK_HEAD, find_all(text, head, start, fold=True)), (MARK_TAIL, find_all(text, tail, start, fold=True))]
    marks = []
    for s, e in offsets:
        m = MARK_NONE
        if e > s:
            for bit, occ in spans:
                if any(s < oe and os_ < e for os_, oe in occ):
                    m |= bit
        marks.append(m)
    return marks


def only_mentions(text: str, t: Triple, lang: str) -> str:
    """The OnlyM probe input: the mentions alone, without their context."""
    return f"{t.head}，{t.tail}" if lang == "zh" else f"{t.head}, {t.tail}"
