"""Synthetic training sentences for relations from their name and description only (RelationPrompt's idea, Chia
et al., 2022), written by a local LLM through llama.cpp's OpenAI-compatible server: ``verifier zsre --synthetic``.

For each relation of ``--data`` (default: FewRel val_wiki's 16), ``--calls`` requests of the ``synth.en`` prompt
(``--n`` sentences each, the set number in the prompt so that the answers differ); a sentence is kept when its
head and tail occur verbatim in it and differ. No sentence of the dataset is shown to the model: only the relation
name and description, which a zero-shot matcher reads at test time anyway. Writes gold records (one triple with
spans, ``relation_id`` the relation's id) to ``--out``; resumable (relations already in the file are skipped).

    python -m experiments.synth_relations --out runs/z18/synth_fewrel.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from pydantic import BaseModel, ValidationError


class SynthSentence(BaseModel):
    text: str
    head: str
    tail: str


class SynthAnswer(BaseModel):
    sentences: list[SynthSentence]


def parse_answer(raw: str) -> list[SynthSentence]:
    from generation.llm.structured import ContentError

    try:
        return SynthAnswer.model_validate_json(raw.strip().removeprefix("```json").removesuffix("```")).sentences
    except ValidationError as e:
        raise ContentError(f"not the required format: {e.errors()[0]['msg']}") from None


def to_record(rel: str, name: str, s: SynthSentence, k: int) -> dict | None:
    """A gold record of one synthetic sentence, or None when a mention is missing or head = tail."""
    from verifier.schema import GoldRecord, Triple

    h, t = s.text.find(s.head), s.text.find(s.tail)
    if not s.head.strip() or not s.tail.strip() or s.head == s.tail or h < 0 or t < 0:
        return None
    triple = Triple(
        head=s.head,
        relation=name,
        relation_id=rel,
        tail=s.tail,
        head_span=(h, h + len(s.head)),
        tail_span=(t, t + len(s.tail)),
    )
    return GoldRecord(doc_id=f"synth-{rel}-{k}", text=s.text, lang="en", triples=[triple]).model_dump(mode="json")


async def synthesise(args: argparse.Namespace, url: str, done: set[str]) -> None:
    from generation.llm.cache import CompletionCache
    from generation.llm.client import LLMClient, LLMSettings
    from generation.llm.prompts import load_prompt
    from generation.matching.zsre import load_dataset

    examples, infos = load_dataset(args.data, None, None)
    prompt, reask = load_prompt("synth.en", args.prompt_version), load_prompt("reask.en")
    settings = LLMSettings(
        base_url=url, model="local", temperature=args.temperature, max_tokens=args.max_tokens,
        max_tokens_cap=args.max_tokens, timeout_s=600, max_attempts=2, cache_scope=f"local:{args.model}",
    )  # fmt: skip
    client = LLMClient(settings, cache=CompletionCache(Path(args.out).with_suffix(".cache")))
    rels = sorted({e.relation_id for e in examples} - done)  # the relations with sentences (not every description)
    rels = [r for r in rels if not args.relations or r in args.relations]
    from tqdm import tqdm

    with open(args.out, "a", encoding="utf-8") as fh:
        for rel in tqdm(rels, desc="relations"):
            info, kept, k = infos[rel], [], 0
            for batch in range(args.calls):
                msgs = prompt.render(relation=info.name, description=info.description or info.name, n=str(args.n),
                                     batch=str(batch + 1))  # fmt: skip
                try:
                    res = await client.structured(msgs, prompt, parse_answer, reask)
                except Exception as e:  # one failed call loses its sentences, not the relation
                    print(f"{rel} set {batch + 1}: {e}", flush=True)
                    continue
                for s in res.value:
                    rec = to_record(rel, info.name, s, k)
                    k += 1
                    if rec and rec["text"] not in {r["text"] for r in kept}:
                        kept.append(rec)
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
            fh.flush()
            print(f"{rel} ({info.name}): {len(kept)} sentences", flush=True)
    await client.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/z18/synth_fewrel.jsonl")
    ap.add_argument("--data", default="fewrel")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-tokens", type=int, default=700)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--prompt-version",
        type=int,
        default=1,
        help="synth.en version: 1 (default); 2 (head and tail kinds first, a worked example) was worse on a probe: "
        "none of its 9 sentences for P155 follows and P177 crosses expressed the relation",
    )
    ap.add_argument("--relations", nargs="*", default=None, help="only these relation ids (default: all)")
    args = ap.parse_args()
    from generation.llm.local_server import LocalLlamaServer
    from generation.run import _local_model_path

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {json.loads(x)["triples"][0]["relation_id"] for x in out.read_text(encoding="utf-8").splitlines()}
    with LocalLlamaServer(_local_model_path(args.model), n_threads=args.threads,
                          log_path=out.with_suffix(".server.log")) as server:  # fmt: skip
        asyncio.run(synthesise(args, server.url, done))


if __name__ == "__main__":
    main()
