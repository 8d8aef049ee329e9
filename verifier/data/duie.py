"""DuIE 2.0 loaders: the official JSONL (``text`` + ``spo_list``) and the CasRel-format dev halves.

Official lines look like ``{"text", "spo_list": [{"predicate", "subject", "subject_type",
"object": {"@value", slot...}, "object_type": {"@value", slot...}}]}``. A complex object (5 of the 48
predicates) becomes one :class:`~verifier.schema.Triple` whose ``tail`` is the ``@value`` slot and whose
other slots (``inWork``, ``onDate``, ``period``, ``inArea``) become ``qualifiers``.

The CasRel halves (``[{"text", "triple_list": [[s, "pred_slot", o], ...]}]``) carry one row per object
slot and no types. Slot rows are grouped back onto their ``@value`` row by (subject, predicate); when a
(subject, predicate) has several ``@value`` rows, the k-th row of a slot attaches to the k-th ``@value``
row (slot rows appear before or after their value row in these files, so order within the pair is not
used). Types are restored from the schema, where every predicate has exactly one subject type and one
``@value`` type.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from verifier.data.relations import RelationSpec
from verifier.io import InputError, iter_json_lines, read_json
from verifier.schema import GoldRecord, Span, Triple


def find_span(text: str, mention: str) -> Span | None:
    """Character span of the first occurrence of ``mention`` in ``text`` (None if absent)."""
    i = text.find(mention)
    return (i, i + len(mention)) if i >= 0 and mention else None


def _str_field(obj: dict, key: str, path: str | os.PathLike[str], line: int, where: str) -> str:
    val = obj.get(key)
    if not isinstance(val, str) or not val.strip():
        raise InputError(path, line, f"{where}{key}", "expected a non-empty string")
    return val


def spo_to_triple(spo: dict, text: str, path: str | os.PathLike[str], line: int, idx: int) -> Triple:
    """One official ``spo_list`` item -> Triple (``@value`` is the tail; other slots are qualifiers)."""
    where = f"spo_list[{idx}]."
    subject = _str_field(spo, "subject", path, line, where)
    predicate = _str_field(spo, "predicate", path, line, where)
    obj = spo.get("object")
    obj_type = spo.get("object_type") or {}
    if isinstance(obj, str):  # DuIE 1.0 style flat object
        obj = {"@value": obj}
        obj_type = {"@value": obj_type} if isinstance(obj_type, str) else obj_type
    if not isinstance(obj, dict) or not isinstance(obj.get("@value"), str) or not obj["@value"].strip():
        raise InputError(path, line, f"{where}object.@value", "expected a non-empty string")
    quals = {k: str(v) for k, v in obj.items() if k != "@value"}
    qual_types = {k: str(v) for k, v in obj_type.items() if k != "@value"} if isinstance(obj_type, dict) else {}
    return Triple(
        head=subject,
        relation=predicate,
        tail=obj["@value"],
        head_type=spo.get("subject_type"),
        tail_type=obj_type.get("@value") if isinstance(obj_type, dict) else None,
        qualifiers=quals,
        qualifier_types=qual_types,
        head_span=find_span(text, subject),
        tail_span=find_span(text, obj["@value"]),
    )


def load_duie_official(path: str | os.PathLike[str], split: str = "train") -> Iterator[GoldRecord]:
    """Stream GoldRecords from an official DuIE JSONL file (``.gz`` allowed)."""
    stem = Path(path).name.split(".")[0]
    for lineno, obj in iter_json_lines(path):
        if not isinstance(obj, dict):
            raise InputError(path, lineno, "record", "expected a JSON object")
        text = _str_field(obj, "text", path, lineno, "")
        spos = obj.get("spo_list", [])
        if not isinstance(spos, list):
            raise InputError(path, lineno, "spo_list", "expected a list")
        triples = []
        for i, spo in enumerate(spos):
            if not isinstance(spo, dict):
                raise InputError(path, lineno, f"spo_list[{i}]", "expected an object")
            triples.append(spo_to_triple(spo, text, path, lineno, i))
        yield GoldRecord(
            doc_id=f"duie/{split}/{stem}:{lineno}",
            text=text,
            lang="zh",
            source=f"duie/{split}",
            triples=triples,
        )


def _group_casrel_rows(
    rows: list[list[str]], schema: dict[str, RelationSpec] | None, text: str, path: str, rec: int
) -> list[Triple]:
    values: dict[tuple[str, str], list[str]] = defaultdict(list)
    slots: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    order: list[tuple[str, str, int]] = []
    for j, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 3 and all(isinstance(x, str) for x in row)):
            raise InputError(path, rec, f"triple_list[{j}]", "expected [subject, predicate_slot, object]")
        s, pslot, o = row
        pred, _, slot = pslot.rpartition("_")
        if not pred:
            raise InputError(path, rec, f"triple_list[{j}][1]", f"expected 'predicate_slot', got {pslot!r}")
        if slot == "@value":
            order.append((s, pred, len(values[(s, pred)])))
            values[(s, pred)].append(o)
        else:
            slots[(s, pred)][slot].append(o)
    triples = []
    for s, pred, k in order:
        spec = schema.get(pred) if schema else None
        quals = {slot: vals[k] for slot, vals in slots[(s, pred)].items() if k < len(vals)}
        o = values[(s, pred)][k]
        triples.append(
            Triple(
                head=s,
                relation=pred,
                tail=o,
                head_type=spec.subject_type if spec else None,
                tail_type=spec.value_type if spec else None,
                qualifiers=quals,
                qualifier_types={q: spec.object_type[q] for q in quals if spec and q in spec.object_type},
                head_span=find_span(text, s),
                tail_span=find_span(text, o),
            )
        )
    return triples


def load_duie_casrel(
    path: str | os.PathLike[str], schema: dict[str, RelationSpec] | None = None, split: str = "dev_short"
) -> Iterator[GoldRecord]:
    """Stream GoldRecords from a CasRel-format DuIE file (one JSON array), types restored from ``schema``.

    Errors are located as ``path:N`` where N is the 1-based record index in the array.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(path, 0, "json", "expected a JSON array of {text, triple_list}")
    stem = Path(path).name.split(".")[0]
    for i, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise InputError(path, i, "record", "expected a JSON object")
        text = _str_field(obj, "text", path, i, "")
        rows = obj.get("triple_list")
        if not isinstance(rows, list):
            raise InputError(path, i, "triple_list", "expected a list")
        yield GoldRecord(
            doc_id=f"duie/{split}/{stem}:{i}",
            text=text,
            lang="zh",
            source=f"duie/{split}",
            triples=_group_casrel_rows(rows, schema, text, str(path), i),
        )


def count_casrel_rows(path: str | os.PathLike[str]) -> int:
    """Number of slot-level rows in a CasRel file (the figure its publishers report as 'triples')."""
    return sum(len(r.get("triple_list", [])) for r in read_json(path))
