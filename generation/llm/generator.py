"""``llm.v1``: candidate triples from an LLM through the CACRE prompt (anchors/positives/negatives, paper
section 2.1, Eq. 1) or the plain extraction prompt (candidates only)."""

from __future__ import annotations

from typing import Literal

from generation.base import register
from generation.llm.client import LLMClient
from generation.llm.prompts import PromptTemplate, defuse, load_prompt, relation_block
from generation.llm.structured import (
    AnswerFormat,
    LLMTriple,
    ValidationPolicy,
    answer_schema,
    parse_payload,
    validate_cacre,
    validate_extraction,
)
from verifier.lexicon import Lexicon
from verifier.schema import Candidate, Document, Provenance, Role, Triple

PromptKind = Literal["cacre", "extract"]


@register("llm.v1")
class LLMGenerator:
    """Turns one document into Candidate rows with one validated (possibly re-asked) LLM call."""

    generator_id = "llm.v1"

    def __init__(
        self,
        client: LLMClient,
        lexicon: Lexicon,
        kind: PromptKind = "cacre",
        lang: str = "zh",
        policy: ValidationPolicy | None = None,
        model_name: str | None = None,
        relations: list[str] | None = None,
        constrain_schema: bool = False,
        answer_format: AnswerFormat = "objects",
    ) -> None:
        """``constrain_schema``: send the answer's JSON schema (``answer_schema``) so that the endpoint decodes only
        valid answers; the client sends it in the endpoint's format. ``answer_format="lists"``: the extraction
        prompt that writes each triple as ``[head, relation, tail]`` (``extract-lists``; extraction only)."""
        if answer_format == "lists" and kind != "extract":
            raise ValueError("answer_format 'lists' is for the extraction prompt only")
        self.client = client
        self.lexicon = lexicon
        self.kind = kind
        self.relations = relations or list(lexicon.relations)
        self.prompt: PromptTemplate = load_prompt(f"{kind}{'-lists' if answer_format == 'lists' else ''}.{lang}")
        self.reask: PromptTemplate = load_prompt(f"reask.{lang}")
        self.policy = policy or ValidationPolicy(allowed_relations=self.relations)
        self.provenance = Provenance(
            generator=self.generator_id,
            prompt_id=self.prompt.prompt_id,
            prompt_version=self.prompt.version,
            model=model_name or client.settings.model,
        )
        self._relation_block = relation_block(lexicon, self.relations)
        self.schema = answer_schema(kind, self.relations, answer_format=answer_format) if constrain_schema else None

    def messages(self, doc: Document) -> list[dict[str, str]]:
        return self.prompt.render(relations=self._relation_block, text=defuse(doc.text))

    def _triple(self, t: LLMTriple) -> Triple:
        e = self.lexicon.relations.get(t.relation)
        return Triple(
            head=t.head,
            relation=t.relation,
            tail=t.tail,
            head_type=e.subject_type if e else None,
            tail_type=e.value_type if e else None,
        )

    def row(self, doc: Document, t: LLMTriple, flags: list[str], role: Role, group: str | None) -> Candidate:
        """One answer triple as a Candidate row of ``doc`` (schema types filled in from the lexicon)."""
        return Candidate(
            doc_id=doc.doc_id,
            text=doc.text,
            lang=doc.lang,
            triple=self._triple(t),
            role=role,
            group_id=group,
            corruption="llm_negative" if role == "negative" else None,
            provenance=self.provenance,
            flags=flags,
        )

    async def generate(self, doc: Document) -> list[Candidate]:
        if self.kind == "cacre":
            result = await self.client.structured(
                self.messages(doc),
                self.prompt,
                lambda raw: validate_cacre(parse_payload(raw), doc.text, self.policy),
                self.reask,
                self.schema,
            )
            rows: list[Candidate] = []
            for role_key, role in (("anchors", "anchor"), ("positives", "positive"), ("negatives", "negative")):
                for i, (t, flags) in enumerate(result.value[role_key]):
                    rows.append(self.row(doc, t, flags, role, f"{doc.doc_id}#g{i}"))
            return rows
        result = await self.client.structured(
            self.messages(doc),
            self.prompt,
            lambda raw: validate_extraction(parse_payload(raw), doc.text, self.policy),
            self.reask,
            self.schema,
        )
        return [self.row(doc, t, flags, "candidate", None) for t, flags in result.value]

    def stats(self) -> dict[str, object]:
        return self.client.usage.model_dump()
