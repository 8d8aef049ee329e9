"""``perturb.v1``: offline training groups from gold triples, with typed hard negatives.

For every gold triple the group is: the anchor (the gold triple, label 1), one positive (the same fact with a
synonymous relation, or the inverse relation with head and tail exchanged, label 1), and ``n_negatives``
negatives (label 0), each recorded with its corruption type:

- ``head_tail_swap``: (tail, r, head);
- ``confusable_relation``: (head, r', tail) with r' a confusable relation of compatible types (lexicon);
- ``entity_substitution``: head or tail replaced by another entity of the same type, from the same sentence
  when it has one, else from the corpus;
- ``span_corruption``: the head or tail mention truncated or extended by neighbouring characters (words for
  English);
- ``unsupported_relation``: (head, r'', tail) with r'' another relation of the same subject type that is not a
  confusable one, so the text plainly does not support it.

With ``paraphrase_negatives`` = p > 0, each negative's relation is, with probability p, written as one of its
lexicon synonyms (its meaning, and so its label, unchanged). perturb.v1 as published (p = 0) writes every
negative in schema form while the positive almost always leaves the schema (98 % on DuIE), so "relation outside
the schema => correct" alone separates them (text AUC 0.990, docs/results.md flaw 1); p > 0 removes that
shortcut from the data. The decision draws from its own ``Random``, so p = 0 reproduces perturb.v1 exactly.

Negatives never equal a gold triple of the same document. Output is deterministic for a seed: each document
draws from ``Random(f"{seed}:{doc_id}")``, so order and concurrency do not matter.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from generation.base import register
from verifier.lexicon import Lexicon
from verifier.schema import Candidate, Corruption, GoldRecord, Provenance, Triple

CORRUPTIONS: tuple[Corruption, ...] = (
    "head_tail_swap",
    "confusable_relation",
    "entity_substitution",
    "span_corruption",
    "unsupported_relation",
)


class PerturbConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_negatives: int = Field(5, ge=1)
    """Negatives per group."""
    seed: int = 13
    corruptions: list[Corruption] = Field(default_factory=lambda: list(CORRUPTIONS))
    """Corruption types to use, cycled in a per-group shuffled order."""
    paraphrase_negatives: float = Field(0.0, ge=0.0, le=1.0)
    """Probability that a negative's relation is written as a lexicon synonym (0 = perturb.v1 as published)."""


def _slot(t: Triple, which: str) -> str:
    """The type of an entity slot, or a relation-role key when the dataset has no entity types."""
    typ = t.head_type if which == "head" else t.tail_type
    return typ or f"{t.relation}:{which}"


class EntityPool:
    """Entities by type (or relation role) across a corpus, for substitution from outside the sentence."""

    def __init__(self) -> None:
        self._by_slot: dict[str, set[str]] = defaultdict(set)

    def add(self, records: Iterable[GoldRecord]) -> EntityPool:
        for r in records:
            for t in r.triples:
                self._by_slot[_slot(t, "head")].add(t.head)
                self._by_slot[_slot(t, "tail")].add(t.tail)
        return self

    def choices(self, slot: str) -> list[str]:
        return sorted(self._by_slot.get(slot, ()))

    def side(self, which: str) -> list[str]:
        """All entities seen in the head (or tail) position, for datasets without entity types."""
        return sorted({e for k, v in self._by_slot.items() if k.endswith(f":{which}") for e in v})


@register("perturb.v1")
class PerturbGenerator:
    generator_id = "perturb.v1"

    def __init__(self, lexicon: Lexicon, pool: EntityPool | None = None, config: PerturbConfig | None = None) -> None:
        self.lexicon = lexicon
        self.pool = pool or EntityPool()
        self.config = config or PerturbConfig()
        self.provenance = Provenance(
            generator=self.generator_id, prompt_id=f"lexicon:{lexicon.lexicon_id}", prompt_version=lexicon.version
        )
        self._counts: dict[str, int] = defaultdict(int)  # negatives by corruption type
        self._paraphrased = 0

    # ------------------------------------------------------------ views

    def positive(self, t: Triple, rng: random.Random) -> Triple:
        """Synonym relation, or inverse relation with head/tail exchanged; the description as a last resort."""
        entry = self.lexicon.relations.get(t.relation)
        options: list[Triple] = []
        if entry is not None:
            options += [t.model_copy(update={"relation": s, "relation_id": None}) for s in entry.synonyms]
            options += [
                t.model_copy(
                    update={
                        "head": t.tail,
                        "tail": t.head,
                        "relation": inv,
                        "relation_id": None,
                        "head_type": t.tail_type,
                        "tail_type": t.head_type,
                        "head_span": t.tail_span,
                        "tail_span": t.head_span,
                    }
                )
                for inv in entry.inverses
            ]
            if not options and entry.description:
                options.append(t.model_copy(update={"relation": entry.description, "relation_id": None}))
        return rng.choice(options) if options else t

    def paraphrased(self, neg: Triple, rng: random.Random) -> Triple:
        """The same (wrong) fact with its relation written as a synonym, with probability ``paraphrase_negatives``."""
        entry = self.lexicon.relations.get(neg.relation)
        if entry is None or not entry.synonyms or rng.random() >= self.config.paraphrase_negatives:
            return neg
        self._paraphrased += 1
        return neg.model_copy(update={"relation": rng.choice(entry.synonyms), "relation_id": None})

    # ------------------------------------------------------------ corruptions

    def _swap(self, t: Triple, doc: GoldRecord, rng: random.Random) -> Triple | None:
        return t.reversed()

    def _confusable(self, t: Triple, doc: GoldRecord, rng: random.Random) -> Triple | None:
        opts = self.lexicon.confusables(t.relation)
        return t.model_copy(update={"relation": rng.choice(opts), "relation_id": None}) if opts else None

    def _substitute(self, t: Triple, doc: GoldRecord, rng: random.Random) -> Triple | None:
        which = rng.choice(["head", "tail"])
        for side in (which, "tail" if which == "head" else "head"):
            slot, current = _slot(t, side), getattr(t, side)
            local = sorted(
                {
                    getattr(o, s)
                    for o in doc.triples
                    for s in ("head", "tail")
                    if _slot(o, s) == slot and getattr(o, s) != current
                }
            )
            pool = local or [e for e in self.pool.choices(slot) if e != current]
            if not pool and slot.endswith(f":{side}"):  # untyped data: any entity seen on this side
                others = {getattr(o, s) for o in doc.triples for s in ("head", "tail")} - {t.head, t.tail}
                pool = sorted(others) or [e for e in self.pool.side(side) if e not in (t.head, t.tail)]
            if pool:
                new = rng.choice(pool)
                span = None
                if (i := doc.text.find(new)) >= 0:
                    span = (i, i + len(new))
                return t.model_copy(update={side: new, f"{side}_span": span})
        return None

    def _span(self, t: Triple, doc: GoldRecord, rng: random.Random) -> Triple | None:
        for side in rng.sample(["head", "tail"], 2):
            mention = getattr(t, side)
            span = getattr(t, f"{side}_span")
            if span is None and (i := doc.text.find(mention)) >= 0:
                span = (i, i + len(mention))
            new = self._corrupt_mention(doc.text, mention, span, doc.lang, rng)
            if new is not None:
                s = doc.text.find(new[0])
                return t.model_copy(update={side: new[0], f"{side}_span": (s, s + len(new[0])) if s >= 0 else None})
        return None

    @staticmethod
    def _corrupt_mention(
        text: str, mention: str, span: tuple[int, int] | None, lang: str, rng: random.Random
    ) -> tuple[str] | None:
        if lang == "en":
            words = mention.split()
            ops = []
            if len(words) > 1:
                ops += [" ".join(words[1:]), " ".join(words[:-1])]
            if span is not None:
                before = re.findall(r"(\w+)\s*$", text[: span[0]])
                after = re.findall(r"^\s*(\w+)", text[span[1] :])
                ops += [f"{before[0]} {mention}" if before else None, f"{mention} {after[0]}" if after else None]
        else:
            ops = [mention[1:], mention[:-1]] if len(mention) > 2 else []
            if span is not None:
                k = rng.choice([1, 2])
                before, after = text[max(0, span[0] - k) : span[0]], text[span[1] : span[1] + k]
                # extend only with word characters: "，吴凡" would be a formatting error, not a wrong entity
                if before and re.fullmatch(r"\w+", before):
                    ops.append(before + mention)
                if after and re.fullmatch(r"\w+", after):
                    ops.append(mention + after)
        ops = [o for o in ops if o and o.strip() and o != mention and not re.fullmatch(r"\W+", o)]
        return (rng.choice(ops),) if ops else None

    def _unsupported(self, t: Triple, doc: GoldRecord, rng: random.Random) -> Triple | None:
        confusable = set(self.lexicon.confusables(t.relation))
        gold_rels = {o.relation for o in doc.triples if (o.head, o.tail) == (t.head, t.tail)}
        opts = [r for r in self.lexicon.type_compatible(t.relation) if r not in confusable and r not in gold_rels]
        if not opts:
            return None
        r = rng.choice(opts)
        e = self.lexicon.relations.get(r)
        return t.model_copy(
            update={
                "relation": r,
                "relation_id": None,
                "tail_type": e.value_type if e and e.value_type else t.tail_type,
            }
        )

    # ------------------------------------------------------------ generation

    def group(self, doc: GoldRecord, index: int, t: Triple) -> list[Candidate]:
        rng = random.Random(f"{self.config.seed}:{doc.doc_id}:{index}")
        gid = f"{doc.doc_id}#g{index}"
        gold = {o.key() for o in doc.triples}

        def row(triple: Triple, role: str, label: int, corruption: Corruption | None = None) -> Candidate:
            return Candidate(
                doc_id=doc.doc_id,
                text=doc.text,
                lang=doc.lang,
                triple=triple,
                role=role,
                group_id=gid,
                corruption=corruption,
                provenance=self.provenance,
                label=label,
            )

        rows = [row(t, "anchor", 1), row(self.positive(t, rng), "positive", 1)]
        fns = {
            "head_tail_swap": self._swap,
            "confusable_relation": self._confusable,
            "entity_substitution": self._substitute,
            "span_corruption": self._span,
            "unsupported_relation": self._unsupported,
        }
        order = list(self.config.corruptions)
        rng.shuffle(order)
        seen = set(gold)
        surface = random.Random(f"{self.config.seed}:{doc.doc_id}:{index}:surface")  # v1's draws stay untouched
        misses = 0
        i = 0
        while len(rows) - 2 < self.config.n_negatives and misses < 4 * len(order):
            kind = order[i % len(order)]
            i += 1
            neg = fns[kind](t, doc, rng)
            if neg is None or neg.key() in seen:
                misses += 1
                continue
            seen.add(neg.key())
            neg = self.paraphrased(neg, surface)
            rows.append(row(neg, "negative", 0, kind))
            self._counts[kind] += 1
        return rows

    async def generate(self, doc: GoldRecord) -> list[Candidate]:
        if not isinstance(doc, GoldRecord):
            raise TypeError("perturb.v1 needs gold records (documents with triples)")
        return [c for i, t in enumerate(doc.triples) for c in self.group(doc, i, t)]

    def stats(self) -> dict[str, Any]:
        return {"negatives_by_corruption": dict(self._counts), "paraphrased_negatives": self._paraphrased}
