"""Can a text's own baseline make scores comparable across texts? Pooled AUC with and without it.

The diagnosis in docs/results.md (section 0) found the typed gold-text AUC lost *across* texts, not within them:
the model ranks a group's gold triple above its own absent-entity substitute 97.9 % of the time, but gold triples
of long sentences score low (Spearman -0.31 against length), so one pooled threshold mixes texts whose scales
differ. This experiment measures a label-free, per-text correction: score every text against the same M probe
triples (triples of *other* documents of the same file, drawn once with a fixed seed; they are wrong for this
text), and compare each candidate with them:

- ``raw``: the model's score s(t, c);
- ``minus_mean``: s(t, c) - mean_p s(t, p), the text's offset removed;
- ``z``: (s(t, c) - mean_p s(t, p)) / std_p s(t, p), its scale too.

A per-text shift cannot change an AUC within one text (the ``within`` figures stay equal; they are printed as the
check); it can only change how texts compare, which is what the pooled AUC and one global threshold need. The
probes cost M extra pairs per distinct text. Nothing here fits anything; choose on the choice set and held-out
*train* groups, then read the test sets once.

    python -m experiments.text_baseline --model runs/v16/cpu6e3/best --groups runs/v16/groups/val300.jsonl \
        --out runs/results/text_baseline/val300
    python -m experiments.text_baseline --model runs/v16/cpu6e3/best --candidates C/candidates.jsonl \
        --gold C/gold.jsonl --out runs/results/text_baseline/choice
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from experiments.verify_real import label_candidates, within_auc
from verifier.align import default_relation_classes, triple_matches
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.metrics import roc_auc
from verifier.model.inputs import Pairs
from verifier.schema import Candidate, Provenance, Triple

VARIANTS = ("raw", "minus_mean", "z")


def group_rows(path: str, limit: int | None) -> tuple[list[Candidate], dict[str, np.ndarray], list[str | None]]:
    """Typed groups flattened to rows (the anchor, then its negatives) with strict and soft labels as
    ``experiments.verify_real`` gives them, and each row's corruption kind (None for the anchor)."""
    from verifier.data.groups import read_groups

    groups = read_groups(path)[0]
    groups = sorted(groups, key=lambda g: g.group_id)[:limit] if limit else groups
    rows, strict, soft, kinds = [], [], [], []
    source = Provenance(generator="typed-groups")
    for g in groups:
        rc = default_relation_classes(None, g.lang)
        for t, kind in [(g.anchor, None), *zip(g.negatives, g.corruptions, strict=True)]:
            rows.append(
                Candidate(doc_id=g.group_id, text=g.text, lang=g.lang, triple=t, role="candidate", provenance=source)
            )
            strict.append(int(kind is None))
            soft.append(int(kind is None or triple_matches(t, g.anchor, "soft", g.lang, rc)))
            kinds.append(kind if kind is None else str(kind))
    return rows, {"strict": np.asarray(strict), "soft": np.asarray(soft)}, kinds


def probe_pool(rows: list[Candidate], m: int, seed: int) -> list[tuple[str, Triple]]:
    """M distinct (document, triple) probes drawn once from the file's own triples."""
    uniq = list({(r.doc_id, r.triple.head, r.triple.relation, r.triple.tail): r for r in rows}.values())
    pick = np.random.default_rng(seed).choice(len(uniq), size=min(m + 8, len(uniq)), replace=False)
    return [(uniq[i].doc_id, uniq[i].triple) for i in pick]


def probe_stats(model, rows: list[Candidate], probes: list[tuple[str, Triple]], m: int) -> dict[str, tuple]:
    """Per distinct text: mean and std of its scores against the first M probes of other documents."""
    texts = {r.text: r for r in rows}
    pairs = [(t, r.lang, p) for t, r in texts.items() for d, p in [q for q in probes if q[0] != r.doc_id][:m]]
    s, _, _ = model.score_pairs(
        Pairs(texts=[p[0] for p in pairs], triples=[p[2] for p in pairs], langs=[p[1] for p in pairs])
    )
    by_text: dict[str, list[float]] = {}
    for (t, _, _), v in zip(pairs, s, strict=True):
        by_text.setdefault(t, []).append(float(v))
    return {t: (float(np.mean(v)), float(np.std(v)) + 1e-6) for t, v in by_text.items()}


def variants(rows: list[Candidate], s: np.ndarray, stats: dict[str, tuple]) -> dict[str, np.ndarray]:
    mu = np.asarray([stats[r.text][0] for r in rows])
    sd = np.asarray([stats[r.text][1] for r in rows])
    return {"raw": s, "minus_mean": s - mu, "z": (s - mu) / sd}


def report(rows: list[Candidate], labels: dict[str, np.ndarray], scores: dict[str, np.ndarray], kinds=None) -> dict:
    rels = set(lexicon_for("duie").relations)
    in_schema = np.asarray([r.triple.relation in rels for r in rows])
    docs = [r.doc_id for r in rows]
    out: dict = {}
    for name, s in scores.items():
        for mode, y in labels.items():
            within, _ = within_auc(y, s, docs)
            row = {"pooled": roc_auc(y, s), "in_schema": roc_auc(y[in_schema], s[in_schema]), "within": within}
            if kinds is not None:
                k = np.asarray([str(x) for x in kinds])
                row["per_kind"] = {
                    kind: roc_auc(y[(k == "None") | (k == kind)], s[(k == "None") | (k == kind)])
                    for kind in sorted(set(k) - {"None"})
                }
            out.setdefault(name, {})[mode] = row
    return out


def scoring_parser(description: str) -> argparse.ArgumentParser:
    """The flags of a score-variant experiment: a model, and real candidates with gold or typed groups."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", required=True)
    ap.add_argument("--candidates", help="real LLM candidates (Candidate JSONL), with --gold")
    ap.add_argument("--gold")
    ap.add_argument("--groups", help="typed-negative groups instead of candidates")
    ap.add_argument("--groups-limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    return ap


def load_scoring(args: argparse.Namespace) -> tuple[Any, list[Candidate], dict[str, np.ndarray], list | None]:
    """The model (eval mode, ``--threads`` torch threads), the rows, their strict/soft labels and kinds."""
    from verifier.model.registry import load_verifier

    torch.set_num_threads(args.threads)
    if args.groups:
        rows, labels, kinds = group_rows(args.groups, args.groups_limit)
    else:
        rows = list(read_jsonl(args.candidates, Candidate))
        labels, kinds = label_candidates(rows, args.gold), None
    return load_verifier(args.model).eval(), rows, labels, kinds


def write_metrics(out: str, res: dict) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "metrics.json").write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")


def main() -> None:
    ap = scoring_parser(__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=16, help="M probe triples per text")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model, rows, labels, kinds = load_scoring(args)
    s, _, _ = model.score_pairs(Pairs.of(rows))
    stats = probe_stats(model, rows, probe_pool(rows, args.probes, args.seed), args.probes)
    res = {"rows": len(rows), "texts": len(stats), "probes": args.probes}
    res |= report(rows, labels, variants(rows, np.asarray(s, dtype=float), stats), kinds)
    write_metrics(args.out, res)
    print(json.dumps({k: v for k, v in res.items() if k in VARIANTS}, indent=1))


if __name__ == "__main__":
    main()
