"""Group yield of ``--prompt hybrid`` from an existing extraction run, without asking the model again.

``hybrid.v1`` sends exactly the extraction request and builds groups from the answer (``generation.hybrid``), so
its output for a document is a function of that document's extracted rows. This replays an ``--prompt extract``
run (its candidates file, and its ``--limit`` for the documents it attempted: failed documents count as giving no
group) through the same ``anchors_of`` and ``perturb.v1`` and reports the share of sentences that give at least one
anchor / positive / negative group, over all attempted sentences and over the first 50.

    python -m experiments.hybrid_yield --candidates runs/results/llm15/candidates.jsonl --data duie --split dev \
        --limit 200 --out runs/results/hybrid_yield15.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
from itertools import islice
from pathlib import Path

from generation.hybrid import anchors_of
from generation.perturb import PerturbConfig, PerturbGenerator
from verifier.data.catalog import load_split
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.schema import Candidate, GoldRecord


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", required=True, help="an --prompt extract run's candidates JSONL")
    ap.add_argument("--data", default="duie")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, required=True, help="the run's --limit: the documents it attempted")
    ap.add_argument("--n-negatives", type=int, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    lex = lexicon_for(a.data, a.split)
    docs = list(islice(load_split(a.data, a.split), a.limit))
    rows: dict[str, list[Candidate]] = {}
    for r in read_jsonl(a.candidates, Candidate):
        rows.setdefault(r.doc_id, []).append(r)
    perturb = PerturbGenerator(lex, config=PerturbConfig(n_negatives=a.n_negatives))
    per_doc = []
    for d in docs:
        anchors = anchors_of(rows.get(d.doc_id, []), d, lex)
        record = GoldRecord(doc_id=d.doc_id, text=d.text, lang=d.lang, triples=anchors)
        out = asyncio.run(perturb.generate(record))
        groups = {c.group_id for c in out if c.role == "negative"}
        per_doc.append({"answered": d.doc_id in rows, "anchors": len(anchors), "groups": len(groups)})

    def share(items: list[dict]) -> dict[str, float]:
        n = len(items)
        return {
            "sentences": n,
            "with_a_group": sum(x["groups"] > 0 for x in items) / n,
            "groups_per_sentence": sum(x["groups"] for x in items) / n,
            "answered": sum(x["answered"] for x in items) / n,
        }

    summary = {"all": share(per_doc), "first_50": share(per_doc[:50]), "negatives": perturb.stats()}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: summary[k] for k in ("all", "first_50")}, indent=2))


if __name__ == "__main__":
    main()
