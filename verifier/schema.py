"""Data contracts of the pipeline: every JSONL record that crosses a stage boundary.

This module is the lowest floor of the project: it imports pydantic and nothing heavy (no torch), so
readers, writers and the CLI can validate records cheaply. Every record carries ``schema_version`` and
forbids unknown fields, so a typo in a hand-written file is an error, not a silently ignored key.

Pipeline::

    Document / GoldRecord --generation--> Candidate --verifier filter--> ScoredCandidate --eval--> metrics

Character offsets are Python ``str`` indices (code points) into ``text``, end exclusive.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1

Lang = Literal["zh", "en"]
Role = Literal["anchor", "positive", "negative", "candidate"]
Corruption = Literal[
    "head_tail_swap",
    "confusable_relation",
    "entity_substitution",
    "span_corruption",
    "unsupported_relation",
    "llm_negative",
    "wrong_pairing",
]
Decision = Literal["keep", "reject"]
RejectReason = Literal["below_tau1", "below_tau2", "both", "out_of_schema", "mention_not_in_text", "duplicate"]
"""Thresholds (``below_tau1``, ``below_tau2``, ``both``), a ``verifier filter --rules`` check, or ``duplicate``: a
better-scored row of the same document is the same triple."""
Span = tuple[int, int]


class Record(BaseModel):
    """Base of every contract: strict keys, a schema version, no coercion of stray fields."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)

    schema_version: int = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is newer than this verifier ({SCHEMA_VERSION}); upgrade")
        return v


class Triple(BaseModel):
    """One (head, relation, tail) fact.

    ``relation`` is the human-readable relation label the models read (a DuIE predicate such as ``作者``,
    or a Wikidata label such as ``located in the administrative territorial entity``); ``relation_id`` is
    the dataset identifier when it differs (a Wikidata PID such as ``P131``). ``qualifiers`` hold the
    extra slots of DuIE complex objects (``inWork``, ``onDate``, ``period``, ``inArea``); the main triple
    always uses the ``@value`` slot as ``tail``.
    """

    model_config = ConfigDict(extra="forbid")

    head: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    tail: str = Field(min_length=1)
    head_type: str | None = None
    tail_type: str | None = None
    relation_id: str | None = None
    qualifiers: dict[str, str] = Field(default_factory=dict)
    qualifier_types: dict[str, str] = Field(default_factory=dict)
    head_span: Span | None = None
    tail_span: Span | None = None

    @field_validator("head", "relation", "tail")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @field_validator("head_span", "tail_span")
    @classmethod
    def _ordered_span(cls, v: Span | None) -> Span | None:
        if v is not None and not (0 <= v[0] <= v[1]):
            raise ValueError(f"span {v} must satisfy 0 <= start <= end")
        return v

    def key(self) -> tuple[str, str, str]:
        """The identity used for exact matching: (head, relation, tail)."""
        return (self.head, self.relation, self.tail)

    def reversed(self) -> Triple:
        """The same relation with head and tail (and their types and spans) exchanged."""
        return self.model_copy(
            update={
                "head": self.tail,
                "tail": self.head,
                "head_type": self.tail_type,
                "tail_type": self.head_type,
                "head_span": self.tail_span,
                "tail_span": self.head_span,
            }
        )


def _text_not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("must not be blank (only whitespace)")
    return v


def _spans_within(text: str, triples: dict[str, Triple]) -> None:
    """Every span of ``triples`` (named by their field path) ends inside ``text``."""
    n = len(text)
    for where, t in triples.items():
        for name, span in (("head_span", t.head_span), ("tail_span", t.tail_span)):
            if span is not None and span[1] > n:
                raise ValueError(f"{where}.{name} {list(span)} ends past the text (length {n})")


class Document(Record):
    """A piece of source text to extract from or verify against."""

    doc_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    lang: Lang = "zh"
    source: str | None = None
    """Where it came from, e.g. ``duie/dev`` or ``sample/zh``."""
    tokens: list[str] | None = None
    """Pre-tokenised text (FewRel, Wiki-ZSL); ``text`` is then ``" ".join(tokens)``."""

    _text = field_validator("text")(_text_not_blank)


class GoldRecord(Document):
    """A document with its gold triples (the unit of every dataset loader)."""

    triples: list[Triple] = Field(default_factory=list)

    @model_validator(mode="after")
    def _spans_inside_text(self) -> GoldRecord:
        _spans_within(self.text, {f"triples[{i}]": t for i, t in enumerate(self.triples)})
        return self


class Provenance(BaseModel):
    """Which generator, prompt and model produced a candidate."""

    model_config = ConfigDict(extra="forbid")

    generator: str = Field(min_length=1, description="registered generator id with version, e.g. llm.v1")
    prompt_id: str | None = None
    prompt_version: int | None = None
    model: str | None = None


class RelationScore(BaseModel):
    """One alternative relation proposed by a matching generator, with its score."""

    model_config = ConfigDict(extra="forbid")

    relation: str
    score: float


class Candidate(Record):
    """A candidate triple for a document, produced by a generator.

    ``role`` follows the CACRE prompt (anchor / positive / negative, grouped by ``group_id``); a plain
    extractor or matcher emits ``candidate``. ``corruption`` names the kind of a synthetic negative.
    ``label`` is 1/0 when the candidate is known to be right/wrong (for calibration and evaluation).
    """

    doc_id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    lang: Lang = "zh"
    triple: Triple
    role: Role = "candidate"
    group_id: str | None = None
    corruption: Corruption | None = None
    provenance: Provenance
    generator_score: float | None = None
    top_relations: list[RelationScore] | None = None
    label: Literal[0, 1] | None = None
    flags: list[str] = Field(default_factory=list)
    """Validation notes kept with the row, e.g. ``head_not_in_text`` under keep-with-flag."""

    _text = field_validator("text")(_text_not_blank)

    @model_validator(mode="after")
    def _negatives_are_grouped(self) -> Candidate:
        _spans_within(self.text, {"triple": self.triple})
        if self.role in ("anchor", "positive", "negative") and self.group_id is None:
            raise ValueError(f"role {self.role!r} needs a group_id")
        if self.corruption is not None and self.role != "negative":
            raise ValueError("corruption is only meaningful for role 'negative'")
        return self


class Evidence(BaseModel):
    """Why the verifier decided what it did: where the entities are and what it attended to."""

    model_config = ConfigDict(extra="forbid")

    head_offsets: list[Span] = Field(default_factory=list)
    tail_offsets: list[Span] = Field(default_factory=list)
    attention_span: Span | None = None
    attention_text: str | None = None


class ScoredCandidate(Candidate):
    """A candidate after the verifier: Eq. 16-form similarities and the tau1/tau2 decision (CACRE §2.4)."""

    s_st: float
    """Fused text-triple similarity."""
    s_tt: float | None = None
    """Fused triple-triple (self-consistency) similarity; None when no view could be built."""
    decision: Decision
    reason: RejectReason | None = None
    evidence: Evidence = Field(default_factory=Evidence)
    verifier: str | None = None
    """Model directory or name that scored the row."""
    original: Triple | None = None
    """The triple as the generator wrote it, when ``repair`` changed it (``triple`` is what was scored)."""
    repairs: list[str] = Field(default_factory=list)
    """What repair changed: ``relation:synonym``, ``relation:inverse``, ``head:mention``, ``tail:mention``, and
    ``direction:verifier`` when the verifier preferred the reversed triple (``verifier.orient``)."""
    p_correct: float | None = None
    """Calibrated probability that the triple is right (``decision.json`` beside the model); None without one."""
    explanation: list[str] = Field(default_factory=list)
    """The features that moved ``p_correct`` most, with their signed logit contributions."""

    @model_validator(mode="after")
    def _reason_matches_decision(self) -> ScoredCandidate:
        if self.decision == "keep" and self.reason is not None:
            raise ValueError("a kept row has no rejection reason")
        if self.decision == "reject" and self.reason is None:
            raise ValueError("a rejected row needs a reason")
        return self


class Failure(Record):
    """A unit of work that finally failed (written to ``failures.jsonl``, never dropped silently)."""

    doc_id: str
    stage: str
    reason: str
    attempts: int = 1
    last_response: str | None = None


__all__ = [
    "SCHEMA_VERSION",
    "Candidate",
    "Corruption",
    "Decision",
    "Document",
    "Evidence",
    "Failure",
    "GoldRecord",
    "Lang",
    "Provenance",
    "RejectReason",
    "RelationScore",
    "Role",
    "ScoredCandidate",
    "Span",
    "Triple",
]
