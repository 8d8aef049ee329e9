"""``zrcm.v1`` / ``sdzre.v1``: a trained matcher as a candidate generator in the filtered pipeline.

For each entity pair of a document (the standard zero-shot protocol: the pair is given, here by the gold
triples' spans), the matcher scores every allowed relation description; the best relation becomes one
``candidate`` row with ``generator_score`` and the ``top_relations``. A matcher always answers, so a pair whose
best score is below ``no_relation_threshold`` produces no row ("no relation").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from generation.base import register
from generation.matching.common import examples_from_records, saved_descriptions
from verifier.config import ConfigError
from verifier.schema import Candidate, Document, GoldRecord, Provenance, RelationScore, Triple


class MatcherGenerator:
    """Shared by the matcher generators; subclasses fix ``generator_id`` and the expected ``model_type``."""

    generator_id = "matcher.v1"
    model_type = ""

    def __init__(
        self,
        matcher_dir: str,
        relations: list[str] | None = None,
        no_relation_threshold: float | None = None,
        top_k: int = 3,
    ) -> None:
        from generation.matching.sdzre import SDZRE
        from generation.matching.zrcm import ZRCM

        d = Path(matcher_dir)
        meta = json.loads((d / "descriptions.json").read_text(encoding="utf-8"))
        kind = json.loads((d / "config.json").read_text(encoding="utf-8"))["model_type"]
        if kind != self.model_type:
            raise ValueError(f"{d} holds a {kind} matcher; use --generator {kind}.v1")
        self.model = (SDZRE if kind == "sdzre" else ZRCM).from_pretrained(d)
        self.relations = relations or list(meta["split"]["test"])
        missing = [r for r in self.relations if r not in meta["descriptions"]]
        if missing:
            raise ConfigError(f"no description for relations {missing[:5]} in {d / 'descriptions.json'}")
        self.names = meta["names"]
        self.desc: torch.Tensor | dict[str, torch.Tensor] = saved_descriptions(meta, self.relations, kind)
        self.threshold = no_relation_threshold
        self.top_k = top_k
        self.provenance = Provenance(generator=self.generator_id, model=str(d))
        self._pairs = 0
        self._rejected = 0

    async def generate(self, doc: Document) -> list[Candidate]:
        if not isinstance(doc, GoldRecord):
            raise TypeError(f"{self.generator_id} needs documents with entity pairs (gold records with spans)")
        examples = examples_from_records([doc], with_relation=False)
        if not examples:
            return []
        with torch.no_grad():
            scores = self.model.scores(examples, self.desc)  # (N, R)
        rows = []
        for ex, s in zip(examples, scores, strict=True):
            self._pairs += 1
            top = torch.topk(s, min(self.top_k, len(self.relations)))
            best = float(top.values[0])
            if self.threshold is not None and best < self.threshold:
                self._rejected += 1
                continue
            rid = self.relations[int(top.indices[0])]
            rows.append(
                Candidate(
                    doc_id=doc.doc_id,
                    text=doc.text,
                    lang=doc.lang,
                    provenance=self.provenance,
                    generator_score=best,
                    triple=Triple(
                        head=ex.head,
                        relation=self.names.get(rid, rid),
                        relation_id=rid,
                        tail=ex.tail,
                        head_span=ex.head_span,
                        tail_span=ex.tail_span,
                    ),
                    top_relations=[
                        RelationScore(relation=self.names.get(self.relations[i], self.relations[i]), score=float(v))
                        for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
                    ],
                )
            )
        return rows

    def stats(self) -> dict[str, Any]:
        return {"pairs": self._pairs, "no_relation": self._rejected}


@register("zrcm.v1")
class ZrcmGenerator(MatcherGenerator):
    generator_id = "zrcm.v1"
    model_type = "zrcm"


@register("sdzre.v1")
class SdzreGenerator(MatcherGenerator):
    generator_id = "sdzre.v1"
    model_type = "sdzre"
