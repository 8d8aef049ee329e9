"""``staged.v1``: CACRE training groups from an LLM in small steps that small local models can follow.

The CACRE prompt asks one answer for equally many anchors, positives and negatives; the offline 0.5B / 1.5B models
rarely manage it (docs/results.md section 3). Staged prompting splits it: the first stage is the plain extraction
request (the same request as ``--prompt extract``, so a cached extraction run is reused), and every extracted triple
whose relation is in the schema and whose head and tail occur in the text becomes an anchor (as in ``hybrid.v1``);
the second stage asks, per anchor, one small answer: a positive (the same fact restated: a synonym or the inverse
relation) and up to ``n_negatives`` negatives written by the model itself (``prompts/expand.*``, schema-constrained
where the endpoint supports it). Unlike ``hybrid.v1``, whose negatives come from ``perturb.v1``'s rules, the
negatives here are the LLM's, as in the paper. An anchor whose expansion fails (invalid after the re-asks, or cut
off) is skipped and counted; the document keeps its other groups.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from generation.hybrid import anchors_of
from generation.llm.client import LLMCallError
from generation.llm.prompts import defuse, load_prompt
from generation.llm.structured import LLMTriple, answer_schema, parse_payload, validate_expansion
from verifier.lexicon import Lexicon
from verifier.schema import Candidate, Document, Role


def failure_kind(message: str) -> str:
    """A failed expansion's error without its quoted values (the triples differ, the kinds of error repeat)."""
    return re.sub(r"'[^']*'|\"[^\"]*\"", "…", message.split("\n")[0])[:160]


class StagedGenerator:
    """Stage 1: an ``llm.v1`` extraction gives the anchors; stage 2: one request per anchor for its positive and
    negatives."""

    generator_id = "staged.v1"

    def __init__(
        self, extractor: Any, lexicon: Lexicon, lang: str = "zh", n_negatives: int = 5, constrain_schema: bool = False
    ) -> None:
        """``extractor``: an ``llm.v1`` generator with the extraction prompt (its client asks the second stage too)."""
        self.extractor = extractor
        self.client = extractor.client
        self.lexicon = lexicon
        self.n_negatives = n_negatives
        self.prompt = load_prompt(f"expand.{lang}")
        self.reask = load_prompt(f"reask.{lang}")
        self.schema = answer_schema("expand", [], max_items=n_negatives) if constrain_schema else None
        p = extractor.provenance
        self.provenance = p.model_copy(
            update={"generator": self.generator_id, "prompt_id": f"{p.prompt_id}+{self.prompt.prompt_id}"}
        )
        self._counts = {"documents": 0, "documents_with_a_group": 0, "extracted": 0, "anchors": 0, "groups": 0}
        self._failed_expansions: Counter[str] = Counter()

    def messages(self, doc: Document, anchor: LLMTriple) -> list[dict[str, str]]:
        return self.prompt.render(
            text=defuse(doc.text),
            head=defuse(anchor.head),
            relation=defuse(anchor.relation),
            tail=defuse(anchor.tail),
            n=str(self.n_negatives),
        )

    async def expand(self, doc: Document, anchor: LLMTriple) -> tuple[LLMTriple, list[LLMTriple]] | None:
        """The anchor's positive and negatives; None when the model gave no valid answer."""
        try:
            result = await self.client.structured(
                self.messages(doc, anchor),
                self.prompt,
                lambda raw: validate_expansion(parse_payload(raw), doc.text, anchor, self.n_negatives),
                self.reask,
                self.schema,
            )
        except LLMCallError as e:
            self._failed_expansions[failure_kind(str(e))] += 1
            return None
        return result.value

    def _row(self, doc: Document, t: LLMTriple, role: Role, group: str) -> Candidate:
        row = self.extractor.row(doc, t, [], role, group)
        return row.model_copy(update={"provenance": self.provenance, "label": 0 if role == "negative" else 1})

    async def generate(self, doc: Document) -> list[Candidate]:
        rows = await self.extractor.generate(doc)
        found = anchors_of(rows, doc, self.lexicon)
        anchors = [LLMTriple(head=t.head, relation=t.relation, tail=t.tail) for t in found]
        out: list[Candidate] = []
        groups = 0
        for i, anchor in enumerate(anchors):  # one at a time: the anchors of a text share the server's prefix
            expansion = await self.expand(doc, anchor)
            if expansion is None:
                continue
            positive, negatives = expansion
            gid = f"{doc.doc_id}#g{i}"
            out.append(self._row(doc, anchor, "anchor", gid))
            out.append(self._row(doc, positive, "positive", gid))
            out += [self._row(doc, t, "negative", gid) for t in negatives]
            groups += 1
        c = self._counts
        c["documents"] += 1
        c["documents_with_a_group"] += groups > 0
        c["extracted"] += len(rows)
        c["anchors"] += len(anchors)
        c["groups"] += groups
        return out

    def stats(self) -> dict[str, Any]:
        """The client's usage (tokens and requests of both stages: the run's cost) and the yield."""
        c = self._counts
        return {
            **self.extractor.stats(),
            **c,
            "group_yield": c["documents_with_a_group"] / c["documents"] if c["documents"] else None,
            "failed_expansions": sum(self._failed_expansions.values()),
            "failed_expansion_reasons": dict(self._failed_expansions.most_common()),
        }


__all__ = ["StagedGenerator"]
