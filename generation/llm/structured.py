"""Parse and validate LLM answers into typed triples.

Parsing is tolerant of what real endpoints return: a ``<think>…</think>`` prefix (reasoners), a fenced
```json block (small local models), prose around one JSON object, triples as objects or ``[h, r, t]`` lists,
and the paper's line format ``Anchor: (e1, r, e2)``. Validation is strict and its message is what the re-ask
shows the model: relation outside the allowed set, an empty entity, an entity absent from the text (reject,
or keep with a flag), unequal anchor/positive/negative counts for the CACRE prompt.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

EntityPolicy = Literal["reject", "flag", "drop"]
"""What to do with a triple that breaks a rule: reject (re-ask the model), flag (keep it, noted in ``flags``),
drop (discard that triple only)."""


class ContentError(ValueError):
    """The answer arrived but is unusable; the message is shown to the model on re-ask."""


class LLMTriple(BaseModel):
    model_config = ConfigDict(extra="ignore")

    head: str
    relation: str
    tail: str

    @field_validator("head", "relation", "tail", mode="before")
    @classmethod
    def _strip(cls, v: object) -> object:
        return v.strip() if isinstance(v, str) else v

    @field_validator("head", "relation", "tail")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v:
            raise ValueError("must not be empty")
        return v


class ExtractionAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    triples: list[LLMTriple] = Field(default_factory=list)


class CacreAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    anchors: list[LLMTriple] = Field(default_factory=list)
    positives: list[LLMTriple] = Field(default_factory=list)
    negatives: list[LLMTriple] = Field(default_factory=list)


class ExpansionAnswer(BaseModel):
    """The second stage of ``staged.v1``: one anchor's positive and negatives."""

    model_config = ConfigDict(extra="ignore")

    positive: LLMTriple
    negatives: list[LLMTriple] = Field(default_factory=list)


MAX_ITEMS = 16
"""Schema cap on each answer list (``--constrain schema``): DuIE sentences hold at most a handful of facts, and a
small model that starts repeating a triple otherwise runs to the token cap."""


MAX_CHARS = 64
"""Schema cap on every string (``--constrain schema``): the longest DuIE train/dev entity is 42 characters and the
longest FewRel relation name 56; a 0.5B answer once looped inside one string until the 768-token cap
(docs/results.md section 3)."""


AnswerFormat = Literal["objects", "lists"]
"""How an extraction answer writes a triple: ``{"head": .., "relation": .., "tail": ..}`` (objects, the published
prompts) or ``[head, relation, tail]`` (lists: the ``extract-lists`` prompts; 51 against 33 Qwen2.5 tokens for the
same two DuIE triples, and every token is one decoding step)."""


def answer_schema(
    kind: str, relations: list[str], max_items: int = MAX_ITEMS, answer_format: AnswerFormat = "objects"
) -> dict[str, Any]:
    """The JSON schema of a valid answer (the models above), for decoding constrained to it: relations of
    extracted triples and anchors are an enum of the dataset's relations; positives (paraphrases) and negatives
    (wrong on purpose) may name others; every list has ``maxItems`` and every string ``maxLength``; a CACRE answer
    has at least one group; an expansion (``kind="expand"``) is one positive and 1..``max_items`` negatives.
    ``answer_format="lists"`` (extraction only): each triple a 3-item array (``prefixItems``: head, relation, tail)."""

    def triple(enum: list[str] | None) -> dict[str, Any]:
        text: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_CHARS}
        rel: dict[str, Any] = {"type": "string", "enum": list(enum)} if enum else text
        if answer_format == "lists":
            return {"type": "array", "prefixItems": [text, rel, text], "items": False, "minItems": 3, "maxItems": 3}
        return {
            "type": "object",
            "properties": {"head": text, "relation": rel, "tail": text},
            "required": ["head", "relation", "tail"],
            "additionalProperties": False,
        }  # fmt: skip

    def items(enum: list[str] | None, least: int) -> dict[str, Any]:
        return {"type": "array", "items": triple(enum), "minItems": least, "maxItems": max_items}

    if answer_format == "lists" and kind != "extract":
        raise ValueError(f"answer_format 'lists' is for extraction answers only (got kind {kind!r})")
    if kind == "expand":
        lists: dict[str, Any] = {"positive": triple(None), "negatives": items(None, 1)}
    elif kind == "extract":
        lists = {"triples": items(relations, 0)}
    else:
        lists = {"anchors": items(relations, 1), "positives": items(None, 1), "negatives": items(None, 1)}
    return {"type": "object", "properties": lists, "required": list(lists), "additionalProperties": False}


_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_LINE = re.compile(
    r"^\s*(?:[-*\d.]+\s*)?(anchor|positive|negative|锚点|正例|负例|triple|三元组)s?\s*[:：]\s*[(（](.+?)[)）]\s*$",
    re.I | re.M,
)
_ROLE = {
    "anchor": "anchors",
    "锚点": "anchors",
    "positive": "positives",
    "正例": "positives",
    "negative": "negatives",
    "负例": "negatives",
    "triple": "triples",
    "三元组": "triples",
}


def strip_reasoning(text: str) -> str:
    """Drop ``<think>…</think>`` blocks (and an unterminated leading one)."""
    text = _THINK.sub("", text)
    if "<think>" in text.lower() and "</think>" not in text.lower():
        text = text[: text.lower().index("<think>")]
    return text.strip()


def _closing(text: str, start: int) -> int | None:
    """Index of the ``}`` that closes the ``{`` at ``start`` (strings and escapes respected); None when it never
    closes (a truncated answer)."""
    depth, in_str, esc = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_str:
            esc = (c == "\\") and not esc
            if c == '"' and not esc:
                in_str = False
            elif c != "\\":
                esc = False
            continue
        if c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _first_json_object(text: str) -> dict | None:
    """The first balanced ``{...}`` of ``text`` that parses as JSON; None when there is no ``{`` at all.

    A balanced span that does not parse (prose such as ``fill the {head} slot`` before the answer) is skipped
    whole, so it costs no re-ask. Raises ContentError when an object never closes (a truncated answer must not
    be mistaken for the complete inner object it happens to contain) or when no span parses."""
    first_error: json.JSONDecodeError | None = None
    start = text.find("{")
    if start == -1:
        return None
    while start != -1:
        end = _closing(text, start)
        if end is None:
            raise ContentError("the JSON object is incomplete (truncated?)")
        try:
            obj = json.loads(text[start : end + 1])
        except json.JSONDecodeError as e:
            first_error = first_error or e
        else:
            return obj
        start = text.find("{", end + 1)
    assert first_error is not None
    raise ContentError(f"the JSON is malformed ({first_error.msg} at position {first_error.pos})")


def _normalise_triples(value: object) -> object:
    if isinstance(value, list):
        out = []
        for t in value:
            if isinstance(t, list | tuple) and len(t) == 3:
                out.append({"head": t[0], "relation": t[1], "tail": t[2]})
            else:
                out.append(t)
        return out
    return value


def parse_payload(raw: str) -> dict:
    """Find the JSON object (or the line-format triples) in a raw answer; ContentError when there is none."""
    text = strip_reasoning(raw or "")
    if not text:
        raise ContentError("the answer is empty")
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        if not _LINE.search(cand) or cand.lstrip().startswith("{"):
            obj = _first_json_object(cand)
            if obj is not None:
                return {k: _normalise_triples(v) for k, v in obj.items()}
    lines = _LINE.findall(text)
    if lines:
        out: dict[str, list] = {}
        for role, body in lines:
            parts = [p.strip() for p in re.split(r"[,，]", body)]
            if len(parts) != 3:
                raise ContentError(f"line-format triple ({body}) does not have three parts")
            out.setdefault(_ROLE[role.lower()], []).append({"head": parts[0], "relation": parts[1], "tail": parts[2]})
        return out
    raise ContentError("no JSON object found in the answer")


def _describe(err: ValidationError) -> str:
    e = err.errors()[0]
    return f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"


class ValidationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_relations: list[str]
    entities_in_text: EntityPolicy = "reject"
    relation_errors: EntityPolicy = "reject"
    """A relation outside the allowed set."""
    equal_counts: bool = True
    positive_relations: Literal["any", "allowed"] = "any"
    """Positives use synonymous or inverse relations, which are usually outside the predicate set."""


def _check_triple(
    t: LLMTriple, text: str, allowed: set[str] | None, policy: ValidationPolicy, where: str, check_entities: bool
) -> list[str] | None:
    """Flags for a kept triple, None for a dropped one; ContentError when the policy says re-ask."""
    flags = []
    if allowed is not None and t.relation not in allowed:
        if policy.relation_errors == "reject":
            raise ContentError(f"{where}: relation {t.relation!r} is not one of the allowed relations")
        if policy.relation_errors == "drop":
            return None
        flags.append("relation_not_allowed")
    if check_entities:
        for name, ent in (("head", t.head), ("tail", t.tail)):
            if ent not in text:
                if policy.entities_in_text == "reject":
                    raise ContentError(f"{where}: {name} {ent!r} does not occur in the text; copy entities verbatim")
                if policy.entities_in_text == "drop":
                    return None
                flags.append(f"{name}_not_in_text")
    return flags


def _kept(items: list[tuple[LLMTriple, list[str] | None]]) -> list[tuple[LLMTriple, list[str]]]:
    return [(t, f) for t, f in items if f is not None]


def validate_extraction(payload: dict, text: str, policy: ValidationPolicy) -> list[tuple[LLMTriple, list[str]]]:
    """Validated plain-extraction triples with their flags."""
    try:
        ans = ExtractionAnswer.model_validate(payload)
    except ValidationError as e:
        raise ContentError(_describe(e)) from None
    allowed = set(policy.allowed_relations)
    return _kept(
        [(t, _check_triple(t, text, allowed, policy, f"triples[{i}]", True)) for i, t in enumerate(ans.triples)]
    )


def validate_cacre(payload: dict, text: str, policy: ValidationPolicy) -> dict[str, list[tuple[LLMTriple, list[str]]]]:
    """Validated anchors/positives/negatives. Negatives are wrong on purpose, so their entities are not
    required to occur in the text; their relations must still come from the allowed set."""
    try:
        ans = CacreAnswer.model_validate(payload)
    except ValidationError as e:
        raise ContentError(_describe(e)) from None
    n = (len(ans.anchors), len(ans.positives), len(ans.negatives))
    if policy.equal_counts and len(set(n)) != 1:
        raise ContentError(f"anchors, positives and negatives must be equally many, got {n[0]}, {n[1]}, {n[2]}")
    allowed = set(policy.allowed_relations)
    out: dict[str, list[tuple[LLMTriple, list[str]]]] = {}
    for role, triples in (("anchors", ans.anchors), ("positives", ans.positives), ("negatives", ans.negatives)):
        rel_set = None if role == "positives" and policy.positive_relations == "any" else allowed
        out[role] = [
            (t, _check_triple(t, text, rel_set, policy, f"{role}[{i}]", role != "negatives"))
            for i, t in enumerate(triples)
        ]
    if any(f is None for items in out.values() for _, f in items):
        # dropping one member would break the anchor_i/positive_i/negative_i pairing: drop whole groups
        keep = [i for i in range(n[0]) if all(i < len(out[r]) and out[r][i][1] is not None for r in out)]
        return {r: [out[r][i] for i in keep] for r in out}  # type: ignore[misc]
    return out  # type: ignore[return-value]


def validate_expansion(
    payload: dict, text: str, anchor: LLMTriple, max_negatives: int
) -> tuple[LLMTriple, list[LLMTriple]]:
    """One anchor's positive (the same fact restated: its entities must occur in the text, and it must not repeat
    the anchor) and its negatives (wrong on purpose: entities need not occur; copies of the anchor or the positive
    and repeats are dropped, at most ``max_negatives`` kept; none left is an error the model is shown)."""
    try:
        ans = ExpansionAnswer.model_validate(payload)
    except ValidationError as e:
        raise ContentError(_describe(e)) from None
    pos = ans.positive
    _check_triple(pos, text, None, ValidationPolicy(allowed_relations=[]), "positive", True)  # entities: re-ask
    key = (anchor.head, anchor.relation, anchor.tail)
    if (pos.head, pos.relation, pos.tail) == key:
        raise ContentError("positive: it repeats the anchor; restate it with a synonym or the inverse relation")
    seen = {key, (pos.head, pos.relation, pos.tail)}
    negatives = []
    for t in ans.negatives:
        k = (t.head, t.relation, t.tail)
        if k not in seen:
            seen.add(k)
            negatives.append(t)
    if not negatives:
        raise ContentError("negatives: every negative repeats the anchor or the positive; give wrong triples")
    return pos, negatives[:max_negatives]
