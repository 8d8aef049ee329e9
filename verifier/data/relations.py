"""Relation inventories: the DuIE schema (predicates with subject/object types) and relation descriptions
in the formats used by the zero-shot RE literature (RE-Matching, AlignRE, FewRel/Code-ZSRE pid2name)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from verifier.io import InputError, iter_json_lines, read_json


class RelationSpec(BaseModel):
    """One DuIE predicate: subject type and object types per slot (``@value`` is the main object)."""

    model_config = ConfigDict(extra="forbid")

    predicate: str
    subject_type: str
    object_type: dict[str, str]

    @property
    def value_type(self) -> str:
        return self.object_type["@value"]

    @property
    def is_complex(self) -> bool:
        return len(self.object_type) > 1


class RelationInfo(BaseModel):
    """A relation with its natural-language description, for matching and for lexicons."""

    model_config = ConfigDict(extra="forbid")

    relation_id: str
    name: str
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    head_keywords: list[str] = Field(default_factory=list)
    tail_keywords: list[str] = Field(default_factory=list)


def load_duie_schema(path: str | os.PathLike[str]) -> dict[str, RelationSpec]:
    """Read ``duie_schema.json`` (JSONL, one predicate per line) into ``{predicate: RelationSpec}``."""
    out: dict[str, RelationSpec] = {}
    for lineno, obj in iter_json_lines(path):
        for key in ("predicate", "subject_type", "object_type"):
            if key not in obj:
                raise InputError(path, lineno, key, "field required")
        if not isinstance(obj["object_type"], dict) or "@value" not in obj["object_type"]:
            raise InputError(path, lineno, "object_type", "must be an object with an '@value' slot")
        out[obj["predicate"]] = RelationSpec(**obj)
    return out


def _split_name_is_description(text: str) -> tuple[str, str]:
    name, sep, desc = text.partition(" is ")
    return (name.strip(), desc.strip()) if sep else (text.strip(), "")


def load_descriptions(path: str | os.PathLike[str]) -> dict[str, RelationInfo]:
    """Read relation descriptions in any of the supported formats, detected from the content:

    - RE-Matching ``{PID: "name is description"}``;
    - RE-Matching processed ``[{relation, description: [tokens], h: [...], t: [...]}]``;
    - AlignRE ``[{relation, label_name, description, aliases}]``;
    - pid2name ``{PID: [name, description]}`` (FewRel, Code-ZSRE, SCL-ZSRE).
    """
    data = read_json(path)
    out: dict[str, RelationInfo] = {}
    if isinstance(data, dict):
        for pid, val in data.items():
            if isinstance(val, str):
                name, desc = _split_name_is_description(val)
                out[pid] = RelationInfo(relation_id=pid, name=name, description=desc)
            elif isinstance(val, list) and len(val) >= 1 and all(isinstance(x, str) for x in val):
                desc = val[1] if len(val) > 1 else ""
                out[pid] = RelationInfo(relation_id=pid, name=val[0], description=desc)
            else:
                raise InputError(path, 0, pid, "expected 'name is description' or [name, description]")
        return out
    if isinstance(data, list):
        for i, item in enumerate(data):
            if not isinstance(item, dict) or "relation" not in item:
                raise InputError(path, 0, f"[{i}].relation", "field required")
            pid = item["relation"]
            if "label_name" in item:
                out[pid] = RelationInfo(
                    relation_id=pid,
                    name=item["label_name"],
                    description=item.get("description") or "",
                    aliases=list(item.get("aliases") or []),
                )
            elif isinstance(item.get("description"), list):
                name, desc = _split_name_is_description(" ".join(item["description"]))
                out[pid] = RelationInfo(
                    relation_id=pid,
                    name=name,
                    description=desc,
                    head_keywords=list(item.get("h") or []),
                    tail_keywords=list(item.get("t") or []),
                )
            else:
                raise InputError(path, 0, f"[{i}]", "unknown description record format")
        return out
    raise InputError(path, 0, "json", "expected an object or a list of relation descriptions")


def merge_descriptions(*sources: dict[str, RelationInfo]) -> dict[str, RelationInfo]:
    """Merge description sources: earlier sources win on name/description, aliases and keywords union."""
    out: dict[str, RelationInfo] = {}
    for src in sources:
        for pid, info in src.items():
            if pid not in out:
                out[pid] = info.model_copy(deep=True)
                continue
            cur = out[pid]
            if not cur.description and info.description:
                cur.description = info.description
            for attr in ("aliases", "head_keywords", "tail_keywords"):
                merged = list(dict.fromkeys([*getattr(cur, attr), *getattr(info, attr)]))
                setattr(cur, attr, merged)
    return out


def find_first(root: Path, names: list[str]) -> Path | None:
    """The first of ``names`` (relative paths) that exists under ``root``."""
    for n in names:
        if (root / n).exists():
            return root / n
    return None
