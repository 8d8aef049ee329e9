"""Versioned prompt templates: ``prompts/<id>.v<N>.md`` with ``### system`` / ``### user`` sections.

Placeholders use ``string.Template`` syntax (``$text``), so the JSON examples in a prompt need no escaping.
The input text always goes inside the prompt's delimited block; any copy of the delimiters inside the text is
neutralised so the text cannot close the block and smuggle instructions outside it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from string import Template

from pydantic import BaseModel, ConfigDict

from verifier.lexicon import Lexicon, prompts_dir

_FILE = re.compile(r"^(?P<id>[\w.\-]+)\.v(?P<version>\d+)\.md$")
_SECTION = re.compile(r"^### (system|user|assistant)\s*$", re.M)
# Delimiter tags used by the templates; text copies of them are defused with look-alike brackets.
_DELIMS = {"<文本>": "〈文本〉", "</文本>": "〈/文本〉", "<text>": "‹text›", "</text>": "‹/text›"}


class PromptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt_id: str
    version: int
    messages: list[tuple[str, str]]
    """(role, template text) in order."""

    def render(self, **values: str) -> list[dict[str, str]]:
        """Chat messages with placeholders filled; a missing placeholder is an error (KeyError)."""
        return [{"role": role, "content": Template(text).substitute(values)} for role, text in self.messages]


def parse_template(path: Path) -> PromptTemplate:
    m = _FILE.match(path.name)
    if not m:
        raise ValueError(f"{path}: prompt files are named <id>.v<N>.md")
    body = re.sub(r"<!--.*?-->", "", path.read_text(encoding="utf-8"), flags=re.S)
    parts = _SECTION.split(body)
    messages = [(parts[i], parts[i + 1].strip("\n")) for i in range(1, len(parts) - 1, 2)]
    if not messages:
        raise ValueError(f"{path}: no '### system' / '### user' sections")
    return PromptTemplate(prompt_id=m["id"], version=int(m["version"]), messages=messages)


@lru_cache(maxsize=64)
def load_prompt(prompt_id: str, version: int | None = None, directory: str | None = None) -> PromptTemplate:
    """Load ``<prompt_id>.v<version>.md`` (the highest version when ``version`` is None)."""
    root = Path(directory) if directory else prompts_dir()
    found = sorted(
        (int(m["version"]), p)
        for p in root.glob(f"{prompt_id}.v*.md")
        if (m := _FILE.match(p.name)) and m["id"] == prompt_id
    )
    if version is not None:
        found = [(v, p) for v, p in found if v == version]
    if not found:
        raise FileNotFoundError(f"no prompt {prompt_id!r}{f' v{version}' if version else ''} in {root}")
    return parse_template(found[-1][1])


def defuse(text: str) -> str:
    """Replace any copy of the block delimiters inside user text with look-alikes."""
    for tag, safe in _DELIMS.items():
        text = text.replace(tag, safe)
    return text


def relation_block(lexicon: Lexicon, relations: list[str] | None = None) -> str:
    """One line per allowed relation: ``作者：图书作品 → 人物`` (typed) or ``crosses: description``."""
    lines = []
    for r in relations or list(lexicon.relations):
        e = lexicon.relations.get(r)
        if e is not None and e.subject_type:
            lines.append(f"- {r}：{e.subject_type} → {e.value_type}")
        elif e is not None and e.description:
            lines.append(f"- {r}: {e.description}")
        else:
            lines.append(f"- {r}")
    return "\n".join(lines)
