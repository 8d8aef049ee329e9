"""``errors.v1``: training groups that look like what the filter meets (CLoCE's error-driven idea).

For every gold triple of a *training* document, a group of: the anchor (the gold triple), one positive (a real
LLM candidate that matches it when the document has one, else a lexicon synonym view, else the gold triple
itself) and negatives, in this order:

1. ``llm_negative``: the document's real LLM candidates that match no gold triple (relation names outside the
   schema or near misses, reversed directions, entities absent from the text, wrong pairings: whatever the
   extractor really got wrong), dealt round-robin over the document's groups, each used once;
2. typed negatives up to ``n_negatives``: ``wrong_pairing`` (the head or tail exchanged for an entity of another
   gold triple of the same sentence), ``head_tail_swap``, ``entity_substitution`` (an entity of another
   sentence: usually absent from the text), ``confusable_relation``, ``unsupported_relation`` and, with
   ``label_mode = "strict"`` or ``span_negatives``, ``span_corruption`` (cut or extended spans).

Labels follow the matching that ``verifier eval`` reports (``label_mode``, default ``soft``: entity containment and
lexicon synonyms count as right, so a cut or extended span is *not* a negative under soft labels and the positive
view is never an inverse with head and tail exchanged, which soft matching does not accept). A triple that
matches any gold triple of its document under that matching never becomes a negative. With
``paraphrase_negatives`` = p each typed negative's relation is written as a lexicon synonym (outside the schema)
with probability p, as positives are, so a relation string alone never tells the label.

Deterministic per seed and document (``Random(f"{seed}:{doc_id}")``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generation.base import register
from generation.perturb import EntityPool, PerturbConfig, PerturbGenerator
from verifier.align import Mode, relation_classes, triple_matches
from verifier.lexicon import Lexicon
from verifier.schema import Candidate, Corruption, GoldRecord, Provenance, Triple


class ErrorGroupsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_negatives: int = Field(6, ge=1)
    """Negatives per group: the document's share of real LLM errors first, then typed negatives up to this."""
    label_mode: Mode = "soft"
    """The matching that decides a label (soft: what `verifier eval` reports as soft P/R/F1)."""
    paraphrase_negatives: float = Field(0.5, ge=0.0, le=1.0)
    """Probability that a typed negative's relation is written as a lexicon synonym."""
    span_negatives: bool = False
    """Under soft labels too, cut or extended spans (``span_corruption``) become negatives whenever they match no
    gold triple *strictly*: the exact mention must outrank a cut one. Off (the default) keeps one matching for
    every label; on trades soft for strict ranking of span variants (docs/results.md, section 0)."""
    seed: int = 13


TYPED: tuple[Corruption, ...] = (
    "wrong_pairing",
    "head_tail_swap",
    "entity_substitution",
    "confusable_relation",
    "unsupported_relation",
)


class ErrorGroupGenerator:
    """Builds error-driven groups for gold training documents; ``llm`` maps doc_id -> that document's LLM
    candidates (rows of ``verifier generate --prompt extract`` on the same documents)."""

    generator_id = "errors.v1"

    def __init__(
        self,
        lexicon: Lexicon,
        pool: EntityPool,
        llm: dict[str, list[Triple]] | None = None,
        config: ErrorGroupsConfig | None = None,
    ) -> None:
        self.config = config or ErrorGroupsConfig()
        self.lexicon = lexicon
        self.llm = llm or {}
        self.perturb = PerturbGenerator(
            lexicon, pool, PerturbConfig(seed=self.config.seed, paraphrase_negatives=self.config.paraphrase_negatives)
        )
        self._rel_classes: dict[str, dict[str, str]] = {}
        self.provenance = Provenance(generator=self.generator_id)
        self._counts: dict[str, int] = defaultdict(int)

    def _classes(self, lang: str) -> dict[str, str]:
        if lang not in self._rel_classes:
            self._rel_classes[lang] = relation_classes(self.lexicon, lang)
        return self._rel_classes[lang]

    def is_correct(self, t: Triple, doc: GoldRecord, strict: bool = False) -> bool:
        """Does ``t`` match a gold triple of ``doc`` (under ``label_mode``, or strictly when ``strict``)?"""
        rc = self._classes(doc.lang)
        mode: Mode = "strict" if strict else self.config.label_mode
        return any(triple_matches(t, g, mode, doc.lang, rc) for g in doc.triples)

    def _positive(self, t: Triple, doc: GoldRecord, llm_right: list[Triple], rng: random.Random) -> Triple:
        rc = self._classes(doc.lang)
        real = [
            c for c in llm_right if c.key() != t.key() and triple_matches(c, t, self.config.label_mode, doc.lang, rc)
        ]
        if real:
            return real[0]
        entry = self.lexicon.relations.get(t.relation)
        if self.config.label_mode == "soft" and entry is not None and entry.synonyms:
            return t.model_copy(update={"relation": rng.choice(entry.synonyms), "relation_id": None})
        return t

    @staticmethod
    def _wrong_pairing(t: Triple, doc: GoldRecord, rng: random.Random) -> Triple | None:
        opts = [
            t.model_copy(update={"tail": o.tail, "tail_span": o.tail_span}) for o in doc.triples if o.tail != t.tail
        ]
        opts += [
            t.model_copy(update={"head": o.head, "head_span": o.head_span}) for o in doc.triples if o.head != t.head
        ]
        opts = [o for o in opts if o.head != o.tail]
        return rng.choice(opts) if opts else None

    def _typed(self, kind: str, t: Triple, doc: GoldRecord, rng: random.Random) -> Triple | None:
        p = self.perturb
        fns = {
            "wrong_pairing": self._wrong_pairing,
            "head_tail_swap": p._swap,
            "entity_substitution": p._substitute,
            "confusable_relation": p._confusable,
            "unsupported_relation": p._unsupported,
            "span_corruption": p._span,
        }
        return fns[kind](t, doc, rng)

    def groups(self, doc: GoldRecord) -> list[Candidate]:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}:{doc.doc_id}")
        surface = random.Random(f"{cfg.seed}:{doc.doc_id}:surface")
        llm = self.llm.get(doc.doc_id, [])
        llm_right = [c for c in llm if self.is_correct(c, doc)]
        llm_wrong = list({c.key(): c for c in llm if not self.is_correct(c, doc)}.values())
        share: list[list[Triple]] = [[] for _ in doc.triples]
        for i, c in enumerate(llm_wrong):
            share[i % max(1, len(doc.triples))].append(c)
        kinds = list(TYPED) + (["span_corruption"] if cfg.label_mode == "strict" or cfg.span_negatives else [])
        rows: list[Candidate] = []
        for gi, t in enumerate(doc.triples):
            gid = f"{doc.doc_id}#e{gi}"

            def row(
                triple: Triple, role: str, label: int, corruption: Corruption | None = None, gid: str = gid
            ) -> Candidate:
                return Candidate(
                    doc_id=doc.doc_id,
                    text=doc.text,
                    lang=doc.lang,
                    triple=triple,
                    role=role,  # type: ignore[arg-type]
                    group_id=gid,
                    corruption=corruption,
                    provenance=self.provenance,
                    label=label,  # type: ignore[arg-type]
                )

            group = [row(t, "anchor", 1), row(self._positive(t, doc, llm_right, rng), "positive", 1)]
            seen = {t.key()}
            for c in share[gi]:
                if c.key() not in seen:
                    seen.add(c.key())
                    group.append(row(c, "negative", 0, "llm_negative"))
                    self._counts["llm_negative"] += 1
            order = kinds[:]
            rng.shuffle(order)
            misses, i = 0, 0
            while len(group) - 2 < cfg.n_negatives and misses < 3 * len(order):
                kind = order[i % len(order)]
                i += 1
                neg = self._typed(kind, t, doc, rng)
                if neg is None or neg.key() in seen or self.is_correct(neg, doc, strict=kind == "span_corruption"):
                    misses += 1
                    continue
                seen.add(neg.key())
                neg = self.perturb.paraphrased(neg, surface)
                group.append(row(neg, "negative", 0, kind))  # type: ignore[arg-type]
                self._counts[kind] += 1
            rows += group
        return rows

    async def generate(self, doc: GoldRecord) -> list[Candidate]:
        if not isinstance(doc, GoldRecord):
            raise TypeError("errors.v1 needs gold records (training documents with triples)")
        return self.groups(doc)

    def stats(self) -> dict[str, Any]:
        return {"negatives_by_kind": dict(self._counts)}


def llm_by_doc(rows: Iterable[Candidate]) -> dict[str, list[Triple]]:
    """doc_id -> the triples of that document's LLM candidate rows."""
    out: dict[str, list[Triple]] = defaultdict(list)
    for r in rows:
        out[r.doc_id].append(r.triple)
    return dict(out)


register("errors.v1")(ErrorGroupGenerator)

__all__ = ["TYPED", "ErrorGroupGenerator", "ErrorGroupsConfig", "llm_by_doc"]
