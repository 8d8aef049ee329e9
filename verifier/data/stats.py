"""``verifier data stats``: sentences, triples and relations per split."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict

from verifier.data.catalog import available_splits, load_split, locate_split, slot_rows


class SplitStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str
    split: str
    file: str
    partial: bool
    sentences: int
    triples: int
    """Main triples (a DuIE complex object counts once; it is one SPO)."""
    slot_triples: int
    """One per object slot, the count CasRel-format files report."""
    relations: int
    """Distinct relations (predicates; slots not counted)."""
    skipped: int = 0
    """Annotations present in the file but unusable (e.g. an empty entity span); not in ``triples``."""


def split_stats(dataset: str, split: str, data_dir: str | os.PathLike[str] | None = None) -> SplitStats:
    path, fs = locate_split(dataset, split, data_dir)
    skipped: list[str] = []
    records = list(load_split(dataset, split, data_dir, skipped=skipped))
    rels = {t.relation_id or t.relation for r in records for t in r.triples}
    return SplitStats(
        dataset=dataset,
        split=split,
        file=str(path),
        partial=fs.partial,
        sentences=len(records),
        triples=sum(len(r.triples) for r in records),
        slot_triples=slot_rows(path, fs, records),
        relations=len(rels),
        skipped=len(skipped),
    )


def dataset_stats(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> list[SplitStats]:
    return [split_stats(dataset, s, data_dir) for s in available_splits(dataset, data_dir)]


def format_table(rows: list[SplitStats]) -> str:
    head = (
        f"{'dataset':<8} {'split':<16} {'sentences':>9} {'triples':>8} {'slot_triples':>12} "
        f"{'relations':>9} {'skipped':>7}  file"
    )
    lines = [head]
    for r in rows:
        flag = " (partial)" if r.partial else ""
        lines.append(
            f"{r.dataset:<8} {r.split:<16} {r.sentences:>9,} {r.triples:>8,} {r.slot_triples:>12,} "
            f"{r.relations:>9} {r.skipped:>7}  {r.file}{flag}"
        )
    return "\n".join(lines)
