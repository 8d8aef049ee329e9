"""The dataset catalog: which files make up each split, in priority order, and how to read them.

A split lists candidate files, the official full file first and the partial sample after it; the first
one found under :func:`~verifier.data.paths.search_roots` is used, and ``partial`` says whether it is the
full split. ``sample`` is the corpus this project writes and ships (package data), always available.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from verifier.config import ConfigError
from verifier.data.duie import count_casrel_rows, load_duie_casrel, load_duie_official
from verifier.data.fewrel import load_fewrel
from verifier.data.paths import search_roots
from verifier.data.relations import RelationInfo, RelationSpec, load_descriptions, load_duie_schema
from verifier.data.wikizsl import load_wikizsl_relationprompt, load_wikizsl_zsbert
from verifier.schema import GoldRecord

Format = Literal["duie", "duie_casrel", "fewrel", "wikizsl_zsbert", "wikizsl_relationprompt"]
DatasetName = Literal["duie", "fewrel", "wikizsl", "sample"]
SAMPLE = "<package>"


class FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rel_path: str
    format: Format
    partial: bool = False
    note: str = ""


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    lang: Literal["zh", "en"]
    splits: dict[str, list[FileSpec]]
    relations: list[str] = []
    """Relation inventory files (DuIE schema or description files), first found wins; more merge in."""


def _f(rel: str, fmt: Format, partial: bool = False, note: str = "") -> FileSpec:
    return FileSpec(rel_path=rel, format=fmt, partial=partial, note=note)


CATALOG: dict[str, DatasetSpec] = {
    "duie": DatasetSpec(
        name="duie",
        lang="zh",
        splits={
            "train": [
                _f("duie/duie_train.json", "duie"),
                _f("duie/partial/duie_train_first_5000.json.gz", "duie", True, "first 5,000 train lines"),
            ],
            "dev": [
                _f("duie/duie_dev.json", "duie"),
                _f("duie/partial/duie_dev_subset_2000.json.gz", "duie", True, "2,000-line dev subset"),
            ],
            "dev_short_half1": [
                _f("duie/partial/duie_dev_short_casrel_half1.json.gz", "duie_casrel", True, "short dev, half 1")
            ],
            "dev_short_half2": [
                _f("duie/partial/duie_dev_short_casrel_half2.json.gz", "duie_casrel", True, "short dev, half 2")
            ],
        },
        relations=["duie/duie_schema.json", "duie/duie_schema.json.gz"],
    ),
    "fewrel": DatasetSpec(
        name="fewrel",
        lang="en",
        splits={
            "train_wiki": [_f("fewrel/train_wiki.json", "fewrel"), _f("fewrel/train_wiki.json.gz", "fewrel")],
            "val_wiki": [_f("fewrel/val_wiki.json", "fewrel"), _f("fewrel/val_wiki.json.gz", "fewrel")],
        },
        relations=[
            "fewrel/pid2name.json",
            "fewrel/pid2name.json.gz",
            "fewrel/descriptions/alignre_fewrel_property.json.gz",
            "fewrel/descriptions/rematching_relation_description_addsynonym_processed.json.gz",
        ],
    ),
    "wikizsl": DatasetSpec(
        name="wikizsl",
        lang="en",
        splits={
            "all": [_f("wikizsl/wiki_all.json", "wikizsl_zsbert"), _f("wikizsl/wiki_all.json.gz", "wikizsl_zsbert")],
            "dev_5rel": [
                _f(
                    "wikizsl/partial/relationprompt_style_dev_5rel.jsonl.gz",
                    "wikizsl_relationprompt",
                    True,
                    "5-relation RelationPrompt-format sample",
                )
            ],
        },
        relations=[
            "wikizsl/descriptions/codezsre_pid2name_wiki.json.gz",
            "wikizsl/descriptions/alignre_wikizsl_property.json.gz",
            "wikizsl/descriptions/rematching_relation_description_addsynonym_processed.json.gz",
        ],
    ),
    "sample": DatasetSpec(
        name="sample",
        lang="zh",
        splits={
            "zh": [_f("sample_zh.jsonl", "duie", note="shipped Chinese sample, DuIE format")],
            "en": [_f("sample_en.json", "fewrel", note="shipped English sample, FewRel format")],
        },
        relations=["sample_schema_zh.jsonl", "sample_pid2name_en.json"],
    ),
}


def sample_dir() -> Path:
    """Directory of the shipped sample corpus (package data)."""
    return Path(str(resources.files("verifier.data") / "sample"))


def _roots(dataset: str, data_dir: str | os.PathLike[str] | None) -> list[Path]:
    return [sample_dir()] if dataset == "sample" else search_roots(data_dir)


def get_spec(dataset: str) -> DatasetSpec:
    if dataset not in CATALOG:
        raise ConfigError(f"unknown dataset {dataset!r}; known: {', '.join(CATALOG)}")
    return CATALOG[dataset]


def locate_split(dataset: str, split: str, data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, FileSpec]:
    """Find the file that serves ``dataset/split``; raises FileNotFoundError naming what was searched."""
    spec = get_spec(dataset)
    if split not in spec.splits:
        raise ConfigError(f"unknown split {split!r} of {dataset}; known: {', '.join(spec.splits)}")
    roots = _roots(dataset, data_dir)
    for fs in spec.splits[split]:
        for root in roots:
            if (root / fs.rel_path).exists():
                return root / fs.rel_path, fs
    tried = [str(r / fs.rel_path) for fs in spec.splits[split] for r in roots]
    raise FileNotFoundError(f"{dataset}/{split}: none of {tried} exists (see `verifier data fetch {dataset}`)")


def available_splits(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    out = []
    for split in get_spec(dataset).splits:
        try:
            locate_split(dataset, split, data_dir)
            out.append(split)
        except FileNotFoundError:
            continue
    return out


def load_relation_files(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    spec = get_spec(dataset)
    return [root / rel for rel in spec.relations for root in _roots(dataset, data_dir) if (root / rel).exists()]


def load_schema(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, RelationSpec] | None:
    """The typed predicate schema (DuIE and the Chinese sample); None for description-only datasets."""
    for p in load_relation_files(dataset, data_dir):
        if "schema" in p.name:
            return load_duie_schema(p)
    return None


def load_relations(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> dict[str, RelationInfo]:
    """Relation descriptions keyed by id (PID for Wikidata datasets, predicate for DuIE)."""
    from verifier.data.relations import merge_descriptions

    sources = []
    for p in load_relation_files(dataset, data_dir):
        if "schema" in p.name:
            sources.append(
                {
                    k: RelationInfo(relation_id=k, name=k, description=f"{v.subject_type} -> {v.value_type}")
                    for k, v in load_duie_schema(p).items()
                }
            )
        else:
            sources.append(load_descriptions(p))
    return merge_descriptions(*sources)


def load_split(
    dataset: str,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    skipped: list[str] | None = None,
) -> Iterator[GoldRecord]:
    """Stream the GoldRecords of ``dataset/split`` from whichever file serves it.

    ``skipped``: when given, unusable annotations in pre-tokenised files are recorded there and dropped
    rather than raising (see :mod:`verifier.data.wikizsl`).
    """
    path, fs = locate_split(dataset, split, data_dir)
    if fs.format == "duie":
        yield from load_duie_official(path, split=f"{split}" if dataset != "sample" else "sample_zh")
    elif fs.format == "duie_casrel":
        yield from load_duie_casrel(path, load_schema(dataset, data_dir), split=split)
    elif fs.format == "fewrel":
        yield from load_fewrel(path, load_relations(dataset, data_dir), split=split)
    elif fs.format == "wikizsl_zsbert":
        yield from load_wikizsl_zsbert(path, load_relations(dataset, data_dir), split=split, skipped=skipped)
    elif fs.format == "wikizsl_relationprompt":
        yield from load_wikizsl_relationprompt(path, load_relations(dataset, data_dir), split=split, skipped=skipped)


def slot_rows(path: Path, fs: FileSpec, records: list[GoldRecord]) -> int:
    """Slot-level triple count: one per object slot (how CasRel files and their publishers count)."""
    if fs.format == "duie_casrel":
        return count_casrel_rows(path)
    return sum(1 + len(t.qualifiers) for r in records for t in r.triples)
