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


_TAG = re.compile(r"[<＜‹〈]\s*(/?)\s*(文本|text)\s*[>＞›〉]", re.IGNORECASE)
"""Any copy of a block delimiter: ASCII or full-width brackets, spaces, any case (``</TEXT>``, ``＜/文本＞``)."""
_CONTROL = re.compile(
    r"<\|[^|<>\n]{1,64}\|>|<\s*/?\s*(?:start_of_turn|end_of_turn|s)\s*>|\[\s*/?\s*INST\s*\]", re.IGNORECASE
)
"""Chat-template control strings that tokenizers turn into special tokens: ChatML and Llama-3 ``<|...|>``,
Gemma's turns, ``<s>``/``</s>``, ``[INST]``."""


def defuse(text: str) -> str:
    """Untrusted text made inert for the prompt: copies of the block delimiters become look-alike brackets and
    chat-template control strings lose their first character (a full-width look-alike), so no document can close
    its block or open a chat turn, whatever the backend's template."""
    text = _TAG.sub(lambda m: f"〈{m.group(1)}{m.group(2)}〉", text)
    return _CONTROL.sub(lambda m: "＜" + m.group(0)[1:] if m.group(0)[0] == "<" else "［" + m.group(0)[1:], text)


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
