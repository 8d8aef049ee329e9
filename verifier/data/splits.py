"""Zero-shot relation splits: the published split files and seeded random splits.

Supported files:
- RE-Matching ``{dataset}_rel2id_{m}_{seed}.json``: ``{"train": {PID: id}, "eval": {...}, "test": {...}}``;
- AlignRE ``{dataset}_rel2id.json``: ``{"5"|"10"|"15": [{"train": {...}, "test": {...}} x 5]}``;
- Code-ZSRE ``official_data_divisions.json``: ``{"fewrel"|"wiki": {"1".."5": {"15": [unseen PIDs]}}}``
  (only the unseen relations are listed; the seen ones are the rest of the inventory).
"""

from __future__ import annotations

import os
import random

from pydantic import BaseModel, ConfigDict, model_validator

from verifier.io import InputError, read_json


class ZeroShotSplit(BaseModel):
    """Disjoint seen (train), validation and unseen (test) relation sets."""

    model_config = ConfigDict(extra="forbid")

    train: list[str]
    val: list[str] = []
    test: list[str]
    source: str

    @model_validator(mode="after")
    def _disjoint(self) -> ZeroShotSplit:
        a, b, c = set(self.train), set(self.val), set(self.test)
        if a & c or a & b or b & c:
            raise ValueError(f"split {self.source}: relation sets overlap")
        return self

    @property
    def m(self) -> int:
        return len(self.test)


def load_rematching_split(path: str | os.PathLike[str]) -> ZeroShotSplit:
    data = read_json(path)
    for key in ("train", "test"):
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            raise InputError(path, 0, key, "expected an object {PID: id}")
    return ZeroShotSplit(
        train=list(data["train"]), val=list(data.get("eval", {})), test=list(data["test"]), source=str(path)
    )


def load_alignre_split(path: str | os.PathLike[str], m: int, index: int) -> ZeroShotSplit:
    data = read_json(path)
    try:
        item = data[str(m)][index]
        return ZeroShotSplit(train=list(item["train"]), test=list(item["test"]), source=f"{path}#{m}/{index}")
    except (KeyError, IndexError, TypeError):
        raise InputError(path, 0, f"{m}[{index}]", "no such division in the AlignRE split file") from None


def load_codezsre_split(
    path: str | os.PathLike[str], dataset: str, index: int, inventory: list[str], m: int = 15
) -> ZeroShotSplit:
    data = read_json(path)
    key = {"wikizsl": "wiki"}.get(dataset, dataset)
    try:
        unseen = list(data[key][str(index)][str(m)])
    except (KeyError, TypeError):
        raise InputError(path, 0, f"{key}.{index}.{m}", "no such division in the Code-ZSRE file") from None
    return ZeroShotSplit(train=[r for r in inventory if r not in set(unseen)], test=unseen, source=f"{path}#{index}")


def validation_fold(order: list[str], n_val: int, val_fold: int) -> list[str]:
    """The ``val_fold``-th block of ``n_val`` relations of ``order`` (folds over relations: the relations outside
    the test ones, in the split's seeded order), sorted; fold 0 is the first block. ValueError past the last fold
    (there are ``len(order) // n_val``; one, empty, when ``n_val`` is 0)."""
    folds = len(order) // n_val if n_val else 1
    if not 0 <= val_fold < folds:
        raise ValueError(f"fold {val_fold} of {len(order)} relations in blocks of {n_val}: there are {folds} folds")
    return sorted(order[val_fold * n_val : (val_fold + 1) * n_val])


def random_split(relations: list[str], m: int, seed: int, n_val: int = 0, val_fold: int = 0) -> ZeroShotSplit:
    """Seeded random split: ``m`` unseen test relations, ``n_val`` validation relations, the rest seen.

    ``val_fold`` rotates the validation block over the relations not under test (folds over relations): fold f
    validates on the f-th block of ``n_val`` of them in the seeded order and trains on the others; the test
    relations stay the same for every fold, and fold 0 is the split without folds. There are
    ``(len(relations) - m) // n_val`` folds."""
    if m + n_val >= len(relations):
        raise ValueError(f"m={m} + n_val={n_val} leaves no training relation out of {len(relations)}")
    rels = sorted(relations)
    random.Random(seed).shuffle(rels)
    rest = rels[m:]
    val = validation_fold(rest, n_val, val_fold)
    return ZeroShotSplit(
        test=sorted(rels[:m]),
        val=val,
        train=sorted(r for r in rest if r not in val),
        source=f"random(m={m},seed={seed},n_val={n_val}" + (f",val_fold={val_fold})" if val_fold else ")"),
    )
