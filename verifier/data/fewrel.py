"""FewRel 1.0 loader: ``{PID: [{"tokens", "h": [name, QID, [[pos...]]], "t": [...]}]}`` + ``pid2name.json``.

Each instance becomes a GoldRecord with ``text = " ".join(tokens)``, one Triple whose ``relation`` is the
Wikidata label (from pid2name when given, else the PID) and ``relation_id`` the PID, and character spans
of the first mention of head and tail (surface forms keep the sentence's casing; FewRel's ``h[0]`` is
lower-cased).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from verifier.data.relations import RelationInfo
from verifier.data.tokens import mention_span, token_record
from verifier.io import InputError, read_json
from verifier.schema import GoldRecord, Triple


def _mention(inst: dict, key: str, path: str | os.PathLike[str], where: str) -> tuple[str, tuple[int, int]]:
    ent = inst.get(key)
    if not (isinstance(ent, list) and len(ent) >= 3 and isinstance(ent[2], list) and ent[2]):
        raise InputError(path, 0, f"{where}.{key}", "expected [name, id, [[token positions], ...]]")
    positions = ent[2][0]
    try:
        return mention_span(inst["tokens"], positions)
    except (ValueError, TypeError) as e:
        raise InputError(path, 0, f"{where}.{key}", str(e)) from None


def load_fewrel(
    path: str | os.PathLike[str], relations: dict[str, RelationInfo] | None = None, split: str = "val_wiki"
) -> Iterator[GoldRecord]:
    """Stream GoldRecords from a FewRel JSON file; errors are located as ``path:0: PID[i].field``."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(path, 0, "json", "expected an object {PID: [instances]}")
    stem = Path(path).name.split(".")[0]
    for pid, instances in data.items():
        if not isinstance(instances, list):
            raise InputError(path, 0, pid, "expected a list of instances")
        info = relations.get(pid) if relations else None
        for i, inst in enumerate(instances):
            where = f"{pid}[{i}]"
            tokens = inst.get("tokens") if isinstance(inst, dict) else None
            if not (isinstance(tokens, list) and tokens and all(isinstance(t, str) for t in tokens)):
                raise InputError(path, 0, f"{where}.tokens", "expected a non-empty list of strings")
            head, hspan = _mention(inst, "h", path, where)
            tail, tspan = _mention(inst, "t", path, where)
            triple = Triple(
                head=head, relation=info.name if info else pid, relation_id=pid, tail=tail, head_span=hspan,
                tail_span=tspan,
            )  # fmt: skip
            yield token_record(f"fewrel/{stem}/{pid}/{i}", tokens, f"fewrel/{split}", [triple])
