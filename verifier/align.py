"""Normalisation and candidate-to-gold matching for triple-level evaluation.

- strict: normalised exact match of (head, relation, tail). Normalisation: NFKC (full-width to half-width),
  whitespace removed for Chinese and collapsed for English, surrounding quotes and book-title marks 《》〈〉
  stripped, English lower-cased.
- soft: tolerant entity boundaries (after normalisation, one mention contains the other) and relation
  synonyms from the lexicon (a predicate matches its listed synonyms).

Matching is one-to-one within a document: each gold triple is matched at most once (greedy, exact matches
first), so duplicated predictions count as false positives.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from typing import Literal

from verifier.lexicon import Lexicon
from verifier.schema import Triple

Mode = Literal["strict", "soft"]
_STRIP = "《》〈〉「」『』“”‘’\"'()（）[]【】 "


def norm_entity(s: str, lang: str = "zh") -> str:
    s = unicodedata.normalize("NFKC", s).strip().strip(_STRIP)
    if lang == "zh":
        return re.sub(r"\s+", "", s)
    return re.sub(r"\s+", " ", s).lower()


def norm_relation(r: str, lang: str = "zh") -> str:
    return norm_entity(r, lang)


def default_relation_classes(lexicon_name: str | None, lang: str) -> dict[str, str]:
    """The soft-matching relation classes ``verifier eval`` uses: the named lexicon, else DuIE's for Chinese rows
    and none for English ones (FewRel / Wiki-ZSL relations have no synonym lexicon unless one is named)."""
    from verifier.lexicon import lexicon_for

    if lexicon_name:
        return relation_classes(lexicon_for(lexicon_name), lang)
    return relation_classes(lexicon_for("duie"), lang) if lang == "zh" else {}


def relation_classes(lexicon: Lexicon | None, lang: str = "zh") -> dict[str, str]:
    """Map every relation name and synonym to its canonical relation (for soft matching)."""
    out: dict[str, str] = {}
    if lexicon is None:
        return out
    for rel, e in lexicon.relations.items():
        canon = norm_relation(rel, lang)
        out[canon] = canon
        for s in e.synonyms:
            out.setdefault(norm_relation(s, lang), canon)
    return out


def _ent_soft(a: str, b: str) -> bool:
    return bool(a) and bool(b) and (a == b or a in b or b in a)


def triple_matches(p: Triple, g: Triple, mode: Mode, lang: str, rel_classes: dict[str, str]) -> bool:
    ph, pt, gh, gt = (norm_entity(x, lang) for x in (p.head, p.tail, g.head, g.tail))
    pr, gr = norm_relation(p.relation, lang), norm_relation(g.relation, lang)
    if mode == "strict":
        return (ph, pr, pt) == (gh, gr, gt)
    same_rel = pr == gr or (rel_classes.get(pr, pr) == rel_classes.get(gr, gr))
    return same_rel and _ent_soft(ph, gh) and _ent_soft(pt, gt)


def match_document(
    pred: list[Triple], gold: list[Triple], mode: Mode, lang: str = "zh", rel_classes: dict[str, str] | None = None
) -> tuple[list[int | None], list[bool]]:
    """For each prediction, the index of the gold triple it matches (or None); and which gold were matched."""
    rc = rel_classes or {}
    used = [False] * len(gold)
    assigned: list[int | None] = [None] * len(pred)
    for phase in ("strict", mode) if mode == "soft" else ("strict",):
        for i, p in enumerate(pred):
            if assigned[i] is not None:
                continue
            for j, g in enumerate(gold):
                if not used[j] and triple_matches(p, g, phase, lang, rc):  # type: ignore[arg-type]
                    assigned[i], used[j] = j, True
                    break
    return assigned, used


def group_by_doc(items: list[tuple[str, Triple]]) -> dict[str, list[Triple]]:
    out: dict[str, list[Triple]] = defaultdict(list)
    for doc, t in items:
        out[doc].append(t)
    return out
