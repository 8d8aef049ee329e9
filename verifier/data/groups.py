"""Training groups for the verifier: one text with an anchor triple, a positive view and negatives.

Groups are read from Candidate rows of any generator (``perturb.v1`` groups, ``llm.v1`` CACRE groups): rows
sharing a ``group_id`` form a group; a group needs exactly one anchor, at least one positive (the first is
used) and at least one negative. Incomplete groups are skipped and counted, never silently dropped.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from verifier.io import read_jsonl
from verifier.schema import Candidate, Corruption, Triple

log = logging.getLogger(__name__)


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: str
    doc_id: str
    text: str
    lang: str
    anchor: Triple
    positive: Triple
    negatives: list[Triple]
    corruptions: list[Corruption | None]


class GroupStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: int = 0
    skipped_no_anchor: int = 0
    skipped_no_positive: int = 0
    skipped_no_negative: int = 0


def build_groups(rows: Iterable[Candidate]) -> tuple[list[Group], GroupStats]:
    by_group: OrderedDict[str, list[Candidate]] = OrderedDict()
    for r in rows:
        if r.group_id is not None and r.role != "candidate":
            by_group.setdefault(r.group_id, []).append(r)
    stats = GroupStats()
    groups = []
    for gid, members in by_group.items():
        anchors = [m for m in members if m.role == "anchor"]
        positives = [m for m in members if m.role == "positive"]
        negatives = [m for m in members if m.role == "negative"]
        if not anchors:
            stats.skipped_no_anchor += 1
            continue
        if not positives:
            stats.skipped_no_positive += 1
            continue
        if not negatives:
            stats.skipped_no_negative += 1
            continue
        a = anchors[0]
        groups.append(
            Group(
                group_id=gid,
                doc_id=a.doc_id,
                text=a.text,
                lang=a.lang,
                anchor=a.triple,
                positive=positives[0].triple,
                negatives=[n.triple for n in negatives],
                corruptions=[n.corruption for n in negatives],
            )
        )
    stats.groups = len(groups)
    skipped = stats.skipped_no_anchor + stats.skipped_no_positive + stats.skipped_no_negative
    if skipped:
        log.warning("skipped %d incomplete groups (%s)", skipped, stats.model_dump())
    return groups, stats


def read_groups(path: str | os.PathLike[str]) -> tuple[list[Group], GroupStats]:
    return build_groups(read_jsonl(path, Candidate))
