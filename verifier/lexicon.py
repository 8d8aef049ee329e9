"""Relation lexicons: description, synonyms, inverse forms and confusable relations for each relation.

DuIE's lexicon is hand-written data (``prompts/lexicon/duie.zh.v1.json``). For Wikidata-labelled datasets
(FewRel, Wiki-ZSL) it is derived: synonyms are the Wikidata aliases, inverses come from a table of known
inverse properties, and confusables are the relations whose names and descriptions share the most content
words (Jaccard). Entries are keyed by the relation label that ``Triple.relation`` holds.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from verifier.data.relations import RelationInfo
from verifier.io import InputError, read_json


def prompts_dir() -> Path:
    """``$VERIFIER_PROMPTS``, else the installed ``prompts`` package (package data of the wheel; the checkout's
    ``prompts/`` in an editable install)."""
    env = os.environ.get("VERIFIER_PROMPTS")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("prompts")))


class LexiconEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    synonyms: list[str] = Field(default_factory=list)
    inverses: list[str] = Field(default_factory=list)
    confusables: list[str] = Field(default_factory=list)
    subject_type: str | None = None
    object_type: dict[str, str] = Field(default_factory=dict)

    @property
    def value_type(self) -> str | None:
        return self.object_type.get("@value")


class Lexicon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lexicon_id: str
    version: int
    lang: str
    note: str = ""
    relations: dict[str, LexiconEntry]

    def confusables(self, relation: str) -> list[str]:
        """Confusable relations that exist in this lexicon (hand-written first, then type-compatible ones)."""
        entry = self.relations.get(relation)
        if entry is None:
            return []
        out = [c for c in entry.confusables if c in self.relations and c != relation]
        if entry.subject_type:
            out += [
                r
                for r, e in self.relations.items()
                if r != relation
                and r not in out
                and e.subject_type == entry.subject_type
                and e.value_type == entry.value_type
            ]
        return out

    def type_compatible(self, relation: str) -> list[str]:
        """Relations with the same subject type (any object type); all others when types are unknown."""
        entry = self.relations.get(relation)
        if entry is None or not entry.subject_type:
            return [r for r in self.relations if r != relation]
        return [r for r, e in self.relations.items() if r != relation and e.subject_type == entry.subject_type]


def load_lexicon(path: str | os.PathLike[str]) -> Lexicon:
    data = read_json(path)
    try:
        return Lexicon.model_validate(data)
    except Exception as e:  # pydantic ValidationError
        raise InputError(path, 0, "lexicon", str(e).splitlines()[0]) from None


# Wikidata inverse properties (PID -> label of the inverse relation).
WIKIDATA_INVERSES: dict[str, list[str]] = {
    "P155": ["followed by"],
    "P156": ["follows"],
    "P131": ["contains administrative territorial entity"],
    "P150": ["located in the administrative territorial entity"],
    "P361": ["has part"],
    "P527": ["part of"],
    "P22": ["child"],
    "P25": ["child"],
    "P40": ["father", "mother"],
    "P26": ["spouse"],
    "P3373": ["sibling"],
    "P974": ["mouth of the watercourse"],
    "P403": ["tributary"],
    "P127": ["owner of"],
    "P355": ["parent organization"],
    "P749": ["subsidiary"],
    "P1346": ["award received"],
    "P710": ["participant in"],
    "P1344": ["participant"],
    "P175": ["notable work"],
    "P800": ["author or performer"],
    "P1411": ["nominee"],
    "P463": ["has member"],
}
_STOP = set(
    "a an the of in on at to for by from with or and is are was this that which who item its it as be "
    "subject object use don't not".split()
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP and len(w) > 2}


def derive_lexicon(infos: dict[str, RelationInfo], lexicon_id: str, lang: str = "en", n_confusable: int = 3) -> Lexicon:
    """Build a lexicon from relation descriptions (keys: relation names, as loaders put in Triple.relation)."""
    by_name = {info.name: (pid, info) for pid, info in infos.items()}
    words = {name: _words(name + " " + info.description) for name, (_, info) in by_name.items()}
    rels: dict[str, LexiconEntry] = {}
    for name, (pid, info) in by_name.items():
        scored = sorted(
            (
                (len(words[name] & w) / max(1, len(words[name] | w)), other)
                for other, w in words.items()
                if other != name
            ),
            reverse=True,
        )
        rels[name] = LexiconEntry(
            description=info.description,
            synonyms=[a for a in info.aliases if a and a != name],
            inverses=WIKIDATA_INVERSES.get(pid, []),
            confusables=[o for s, o in scored[:n_confusable] if s > 0] or [o for _, o in scored[:1]],
        )
    return Lexicon(lexicon_id=lexicon_id, version=1, lang=lang, relations=rels, note="derived from descriptions")


@lru_cache(maxsize=8)
def _duie_lexicon() -> Lexicon:
    return load_lexicon(prompts_dir() / "lexicon" / "duie.zh.v1.json")


def lexicon_for(dataset: str, split: str | None = None, data_dir: str | None = None) -> Lexicon:
    """The lexicon of a dataset: DuIE's hand-written one for Chinese data, derived ones otherwise."""
    if dataset == "duie" or (dataset == "sample" and split in (None, "zh")):
        return _duie_lexicon()
    from verifier.data.catalog import load_relations, sample_dir
    from verifier.data.relations import load_descriptions

    if dataset == "sample":
        return derive_lexicon(
            load_descriptions(sample_dir() / "sample_pid2name_en.json"), lexicon_id="sample.en.derived"
        )
    return derive_lexicon(load_relations(dataset, data_dir), lexicon_id=f"{dataset}.derived")
