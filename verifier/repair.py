"""Canonicalisation before verification: map an LLM triple onto the schema's vocabulary and the text's mentions.

- Relation outside the schema: a lexicon synonym becomes its schema relation; a lexicon inverse becomes its
  schema relation with head and tail exchanged (``张三 / 儿子 / 张父`` -> ``张父 / 父亲 / 张三`` when 儿子 is listed
  as an inverse of 父亲). Names are compared after the normalisation of ``verifier.align`` (NFKC, no spaces, marks
  stripped). A name that is none of these stays as it is.
- Entity not found verbatim in the text: surrounding quotes and title marks are trimmed (``《邪少兵王》`` when the
  text has no marks), or, when the text holds the mention with marks or with different width / spacing, the
  entity becomes the text's own spelling.

What changed is returned with the triple, so a row can keep its ``original``. Pure functions over the lexicon:
no model, no I/O.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, ConfigDict, Field

from verifier.lexicon import Lexicon
from verifier.schema import Triple

_MARKS = "《》〈〉「」『』“”‘’\"'()（）[]【】<> \u3000"


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s)).strip(_MARKS).lower()


class Repair(BaseModel):
    """A canonicalised triple and what changed (``relation:synonym``, ``relation:inverse``, ``head:mention`` ...)."""

    model_config = ConfigDict(extra="forbid")

    triple: Triple
    changes: list[str] = Field(default_factory=list)


class RelationIndex:
    """Normalised relation name -> (schema relation, inverted?) for a lexicon's names, synonyms and inverses."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.schema = set(lexicon.relations)
        self.map: dict[str, tuple[str, bool]] = {}
        for rel in lexicon.relations:
            self.map[_norm(rel)] = (rel, False)
        for rel, e in lexicon.relations.items():
            for s in e.synonyms:
                self.map.setdefault(_norm(s), (rel, False))
        for rel, e in lexicon.relations.items():
            for inv in e.inverses:
                self.map.setdefault(_norm(inv), (rel, True))

    def lookup(self, relation: str) -> tuple[str, bool] | None:
        return self.map.get(_norm(relation))


def text_mention(entity: str, text: str) -> str | None:
    """The text's own spelling of ``entity`` when the entity is not verbatim in it: marks trimmed, or the same
    characters after NFKC / without spaces / inside marks. None when nothing matches."""
    if not entity or entity in text:
        return None
    trimmed = entity.strip(_MARKS)
    if trimmed and trimmed != entity and trimmed in text:
        return trimmed
    target = _norm(entity)
    if not target:
        return None
    # compare on a normalised copy of the text, keeping the map back to original character positions
    chars, index = [], []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).lower():
            if not c.isspace():
                chars.append(c)
                index.append(i)
    at = "".join(chars).find(target)
    if at < 0:
        return None
    return text[index[at] : index[at + len(target) - 1] + 1]


def canonicalize(t: Triple, text: str, lexicon: Lexicon, index: RelationIndex | None = None) -> Repair:
    """Map ``t`` onto the schema and the text (see the module docstring)."""
    index = index or RelationIndex(lexicon)
    changes: list[str] = []
    out = t
    if t.relation not in index.schema:
        hit = index.lookup(t.relation)
        if hit is not None:
            rel, inverted = hit
            upd: dict[str, object] = {"relation": rel, "relation_id": None}
            if inverted:
                upd.update(
                    head=t.tail,
                    tail=t.head,
                    head_type=t.tail_type,
                    tail_type=t.head_type,
                    head_span=t.tail_span,
                    tail_span=t.head_span,
                )
            changes.append(
                "relation:inverse" if inverted else ("relation:synonym" if rel != t.relation else "relation:form")
            )
            out = out.model_copy(update=upd)
    for side in ("head", "tail"):
        m = text_mention(getattr(out, side), text)
        if m is not None:
            out = out.model_copy(update={side: m})
            changes.append(f"{side}:mention")
    return Repair(triple=out, changes=changes)


__all__ = ["RelationIndex", "Repair", "canonicalize", "text_mention"]
