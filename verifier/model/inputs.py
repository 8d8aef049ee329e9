"""Model inputs: triple linearisation and entity-mention masking.

Linearisation (configurable):
- ``plain``: ``head / relation / tail`` (the separators keep the three slots apart);
- ``typed``: the knowledge-injected template of CLoCE section 3.2, "the relation of [type1] [head] and
  [type2] [tail] is [relation]" (Chinese: ``[类型1]头实体与[类型2]尾实体的关系是关系``); entity types come from
  the triple (filled from the relation schema by the loaders); a missing type is left out.

Entity masking (context-or-names, section "learn from context"): with probability ``p`` the mentions of the
head and tail in the text are replaced by a mask string, so the verifier must read the context rather than
memorise names.
"""

from __future__ import annotations

import random

from verifier.model.configs import Linearization
from verifier.schema import Triple


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


def only_mentions(text: str, t: Triple, lang: str) -> str:
    """The OnlyM probe input: the mentions alone, without their context."""
    return f"{t.head}，{t.tail}" if lang == "zh" else f"{t.head}, {t.tail}"
