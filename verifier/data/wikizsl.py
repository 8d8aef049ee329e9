"""Wiki-ZSL loaders, in the two formats the zero-shot RE code bases use.

- ZS-BERT (``wiki_all.json``): a JSON array of ``{"tokens", "vertexSet": [{"kbID", "tokenpositions",
  "lexicalInput", ...}], "edgeSet": [{"kbID": PID, "left": [token idx], "right": [token idx]}]}``; each
  edge is one triple (left = head, right = tail).
- RelationPrompt / SCL-ZSRE JSONL: ``{"triplets": [{"tokens", "head": [idx], "tail": [idx], "label",
  "label_id", ...}]}`` per sentence.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from verifier.data.relations import RelationInfo
from verifier.data.tokens import gather_triples, token_record, token_triple
from verifier.io import InputError, iter_json_lines, read_json
from verifier.schema import GoldRecord, Triple


def _edge(tokens: list[str], relations: dict[str, RelationInfo] | None, edge: dict) -> Triple:
    """One ZS-BERT edge (token positions ``left`` / ``right`` of the record's tokens, Wikidata ``kbID``)."""
    pid = edge["kbID"]
    info = relations.get(pid) if relations else None
    return token_triple(tokens, edge["left"], edge["right"], pid, info.name if info else pid)


def _triplet(relations: dict[str, RelationInfo] | None, t: dict) -> Triple:
    """One RelationPrompt triplet (its own tokens, head and tail positions, label and label id)."""
    pid = t.get("label_id") or t["label"]
    info = relations.get(pid) if relations else None
    return token_triple(t["tokens"], t["head"], t["tail"], pid, info.name if info else t["label"])


def load_wikizsl_zsbert(
    path: str | os.PathLike[str],
    relations: dict[str, RelationInfo] | None = None,
    split: str = "all",
    skipped: list[str] | None = None,
) -> Iterator[GoldRecord]:
    """Stream GoldRecords from a ZS-BERT-format Wiki-ZSL file; errors located as ``path:N`` (record index).

    With ``skipped`` given, an unusable edge (e.g. empty token positions) is recorded there as a located
    message and dropped instead of stopping the run; records left without triples are still yielded.
    """
    data = read_json(path)
    if not isinstance(data, list):
        raise InputError(path, 0, "json", "expected a JSON array of {tokens, vertexSet, edgeSet}")
    stem = Path(path).name.split(".")[0]
    for i, item in enumerate(data, start=1):
        tokens = item.get("tokens") if isinstance(item, dict) else None
        if not (isinstance(tokens, list) and tokens):
            raise InputError(path, i, "tokens", "expected a non-empty list of strings")
        edges = item.get("edgeSet")
        if not isinstance(edges, list):
            raise InputError(path, i, "edgeSet", "expected a list")
        triples = gather_triples(edges, partial(_edge, tokens, relations), (path, i, "edgeSet", "edge"), skipped)
        yield token_record(f"wikizsl/{stem}/{i}", tokens, f"wikizsl/{split}", triples)


def load_wikizsl_relationprompt(
    path: str | os.PathLike[str],
    relations: dict[str, RelationInfo] | None = None,
    split: str = "dev",
    skipped: list[str] | None = None,
) -> Iterator[GoldRecord]:
    """Stream GoldRecords from RelationPrompt-format JSONL (one sentence, many ``triplets``, per line).

    ``skipped`` works as in :func:`load_wikizsl_zsbert` (the shipped 5-relation sample has one triplet
    with an empty head, line 4588).
    """
    stem = Path(path).name.split(".")[0]
    for lineno, obj in iter_json_lines(path):
        trips = obj.get("triplets") if isinstance(obj, dict) else None
        if not isinstance(trips, list) or not trips:
            raise InputError(path, lineno, "triplets", "expected a non-empty list")
        tokens = trips[0].get("tokens")
        if not (isinstance(tokens, list) and tokens):
            raise InputError(path, lineno, "triplets[0].tokens", "expected a non-empty list of strings")
        where = (path, lineno, "triplets", "triplet")
        triples = gather_triples(trips, partial(_triplet, relations), where, skipped)
        yield token_record(f"wikizsl/{stem}:{lineno}", tokens, f"wikizsl/{split}", triples)
