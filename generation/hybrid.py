"""``hybrid.v1``: CACRE training groups that small local models can produce: LLM anchors, perturb.v1 around them.

The CACRE prompt asks one answer for equally many anchors, positives and negatives; the offline 0.5B / 1.5B
models rarely manage it (docs/results.md section 3: 0 of 3 sample documents gave a group). Extraction is what
they can do. So each document is extracted with the plain extraction prompt (the same request as ``--prompt
extract``, so a cached extraction run is reused), every extracted triple whose relation is in the schema and whose
head and tail occur in the text becomes an anchor, and ``perturb.v1`` builds its positive (a lexicon synonym or
the inverse relation) and typed negatives (head/tail swap, confusable relation, other entity of the sentence, cut
span, unsupported relation) around it. As in the paper's design the anchors are taken as right: a wrong LLM
anchor makes a wrong group, which is why the verifier's own training uses gold anchors (``errors.v1``) and this mode
is for documents without gold.
"""

from __future__ import annotations

from typing import Any

from generation.perturb import PerturbGenerator
from verifier.lexicon import Lexicon
from verifier.schema import Candidate, Document, GoldRecord, Triple


def anchors_of(rows: list[Candidate], doc: Document, lexicon: Lexicon) -> list[Triple]:
    """The extracted triples that can anchor a group: a schema relation, both mentions in the text, first
    occurrence of each (head, relation, tail) only."""
    out: dict[tuple[str, str, str], Triple] = {}
    for r in rows:
        t = r.triple
        if t.relation in lexicon.relations and t.head in doc.text and t.tail in doc.text and t.head != t.tail:
            out.setdefault(t.key(), t)
    return list(out.values())


class HybridGenerator:
    """LLM extraction for the anchors, perturb.v1 for each anchor's positive and negatives."""

    generator_id = "hybrid.v1"

    def __init__(self, extractor: Any, lexicon: Lexicon, perturb: PerturbGenerator) -> None:
        """``extractor``: an ``llm.v1`` generator with the extraction prompt."""
        self.extractor = extractor
        self.lexicon = lexicon
        self.perturb = perturb
        p = extractor.provenance
        self.provenance = p.model_copy(
            update={"generator": self.generator_id, "prompt_id": f"{p.prompt_id}+{perturb.generator_id}"}
        )
        self._docs = 0
        self._docs_with_group = 0
        self._anchors = 0
        self._extracted = 0

    async def generate(self, doc: Document) -> list[Candidate]:
        rows = await self.extractor.generate(doc)
        anchors = anchors_of(rows, doc, self.lexicon)
        record = GoldRecord(doc_id=doc.doc_id, text=doc.text, lang=doc.lang, triples=anchors)
        groups = await self.perturb.generate(record)
        out = [c.model_copy(update={"provenance": self.provenance}) for c in groups]
        self._docs += 1
        self._extracted += len(rows)
        self._anchors += len(anchors)
        self._docs_with_group += any(c.role == "negative" for c in out)
        return out

    def stats(self) -> dict[str, Any]:
        """The extractor's usage (tokens, requests: what the run's cost is computed from) and the yield."""
        return {
            **self.extractor.stats(),
            "documents": self._docs,
            "documents_with_a_group": self._docs_with_group,
            "group_yield": self._docs_with_group / self._docs if self._docs else None,
            "extracted": self._extracted,
            "anchors": self._anchors,
            "perturb": self.perturb.stats(),
        }


__all__ = ["HybridGenerator", "anchors_of"]
