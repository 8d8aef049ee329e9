"""Verified hybrid: how many of the anchors a group generator would build on are right, before and after the filter.

``--prompt hybrid`` anchors its groups on every extracted triple with a schema relation and both mentions in the
text; ``verifier generate --generator perturb.v1 --anchors-from kept.jsonl`` anchors them on the filter's kept
rows instead (the same grounding rule, ``generation.run.anchor_documents``). This labels both anchor sets against
gold with ``verifier eval``'s one-to-one matching (soft and strict) and prints their precision and the documents
that still have an anchor. Nothing is fitted here.

    python -m experiments.verified_anchors --candidates runs/results/llm15/candidates.jsonl \
        --kept runs/results/auto_15/kept.jsonl --gold runs/results/llm15/gold.jsonl \
        --out runs/results/verified_anchors.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from generation.run import anchor_documents
from verifier.align import default_relation_classes
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.metrics import label_candidates
from verifier.schema import Candidate, GoldRecord, Provenance


def anchor_precision(path: str, gold: dict[str, GoldRecord], data: str) -> dict[str, object]:
    docs = anchor_documents(path, lexicon_for(data))
    prov = Provenance(generator="anchors")
    rows = [
        Candidate(doc_id=d.doc_id, text=d.text, lang=d.lang, triple=t, provenance=prov) for d in docs for t in d.triples
    ]
    out: dict[str, object] = {"anchors": len(rows), "documents_with_an_anchor": sum(bool(d.triples) for d in docs)}
    for mode in ("soft", "strict"):
        lang = rows[0].lang if rows else "zh"
        y = [v or 0 for v in label_candidates(rows, gold, mode, default_relation_classes(None, lang))]
        out[mode] = {"right": sum(y), "precision": round(sum(y) / max(1, len(y)), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", required=True, help="the raw extraction (what --prompt hybrid anchors on)")
    ap.add_argument("--kept", required=True, help="verifier filter's kept rows of the same candidates")
    ap.add_argument("--gold", required=True)
    ap.add_argument("--data", default="duie", help="the relation inventory (schema)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    gold = {g.doc_id: g for g in read_jsonl(args.gold, GoldRecord)}
    res = {
        "documents": len(gold),
        "hybrid (raw extraction)": anchor_precision(args.candidates, gold, args.data),
        "verified (filter's kept rows)": anchor_precision(args.kept, gold, args.data),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(res, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
