"""Does the verifier verify? Candidate ROC AUC on real LLM candidates, and gold text AUC on typed negatives.

Real candidates: each candidate is labelled as ``verifier eval`` labels it (one-to-one matching against the gold
triples of its document, in file order; soft and strict), scored by each model alone (no rule feature), and
reported as pooled ROC AUC over all candidates, over the in-schema candidates (where the schema rule cannot help),
and as within-document AUC (mean over documents that have both classes). The rules "relation in the schema,
entities in the text" are scored beside them as a 0/1/2 feature. Nothing here fits, calibrates or chooses.

Typed negatives (``--groups``, e.g. perturb.v1 groups of the DuIE dev subset): gold text AUC (the anchor, i.e. the
gold triple, against the negatives, pooled), the same within groups, and per corruption type. Every negative counts
as wrong there (strict labels). Beside it, ``gold_text_auc_soft``: the labels ``verifier eval --label-mode soft``
gives (a negative that soft-matches its group's gold triple, e.g. a span cut inside the mention, counts as right),
the labels the errors.v1 recipe trains with.

    python -m experiments.verify_real --candidates runs/results/llm15/candidates.jsonl \
        --gold runs/results/llm15/gold.jsonl --models late=runs/v16/late/best --out runs/results/verify15
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from verifier.align import default_relation_classes, relation_classes, triple_matches
from verifier.io import read_jsonl
from verifier.lexicon import lexicon_for
from verifier.metrics import roc_auc
from verifier.model.inputs import Pairs
from verifier.schema import Candidate, GoldRecord


def label_candidates(rows: list[Candidate], gold_path: str) -> dict[str, np.ndarray]:
    """Strict and soft labels as ``verifier eval`` gives them (a row of a document without gold: wrong)."""
    from verifier.metrics import label_candidates as label

    gold = {g.doc_id: g for g in read_jsonl(gold_path, GoldRecord)}
    rc = relation_classes(lexicon_for("duie"), "zh")
    return {mode: np.asarray([y or 0 for y in label(rows, gold, mode, rc)]) for mode in ("strict", "soft")}


def within_auc(labels: np.ndarray, scores: np.ndarray, groups: list[str]) -> tuple[float | None, int]:
    """Mean ROC AUC over the groups that have both classes, and how many there are."""
    idx: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        idx[g].append(i)
    aucs = [roc_auc(labels[ix], scores[ix]) for ix in idx.values() if 0 < labels[ix].sum() < len(ix)]
    aucs = [a for a in aucs if a is not None]
    return (float(np.mean(aucs)) if aucs else None), len(aucs)


def rule_score(rows: list[Candidate]) -> np.ndarray:
    rels = set(lexicon_for("duie").relations)
    return np.asarray(
        [int(r.triple.relation in rels) + int(r.triple.head in r.text and r.triple.tail in r.text) * 0.5 for r in rows],
        dtype=float,
    )


def load_model(model_dir: str, max_text_length: int | None = None):
    """The saved verifier, in eval mode; ``max_text_length``: score through a text window of that many tokens
    instead of the one it trained with (the model config's ``score_text_length``)."""
    from verifier.model.registry import load_verifier

    model = load_verifier(model_dir).eval()
    if max_text_length:
        model.config.score_text_length = max_text_length
    return model


def score_model(model_dir: str, rows: list[Candidate], max_text_length: int | None = None) -> tuple[np.ndarray, float]:
    model = load_model(model_dir, max_text_length)
    t0 = time.perf_counter()
    s, _, _ = model.score_pairs(Pairs.of(rows))
    return np.asarray(s, dtype=float), len(rows) / (time.perf_counter() - t0)


def real_report(rows: list[Candidate], labels: dict[str, np.ndarray], scores: np.ndarray) -> dict:
    rels = set(lexicon_for("duie").relations)
    in_schema = np.asarray([r.triple.relation in rels for r in rows])
    docs = [r.doc_id for r in rows]
    out = {}
    for mode, lab in labels.items():
        w, n = within_auc(lab, scores, docs)
        out[mode] = {
            "auc_all": roc_auc(lab, scores),
            "auc_in_schema": roc_auc(lab[in_schema], scores[in_schema]),
            "auc_within_doc": w,
            "docs_with_both_classes": n,
            "positives": int(lab.sum()),
            "positives_in_schema": int(lab[in_schema].sum()),
        }
    out["candidates"], out["in_schema"] = len(rows), int(in_schema.sum())
    return out


def groups_report(model_dir: str, groups_path: str, limit: int | None, max_text_length: int | None = None) -> dict:
    from verifier.data.groups import read_groups

    groups = read_groups(groups_path)[0]
    groups = sorted(groups, key=lambda g: g.group_id)[:limit] if limit else groups
    model = load_model(model_dir, max_text_length)
    t0 = time.perf_counter()
    sc = model.group_scores(groups)
    wall = time.perf_counter() - t0
    gold, neg = np.asarray(sc.text_gold), np.asarray(sc.text_neg)
    kinds = np.asarray([str(k) for k in sc.neg_corruptions])
    lab = np.r_[np.ones(len(gold)), np.zeros(len(neg))]
    per_kind = {
        k: roc_auc(np.r_[np.ones(len(gold)), np.zeros((kinds == k).sum())], np.r_[gold, neg[kinds == k]])
        for k in sorted(set(kinds))
    }
    gid = [g.group_id for g in groups] + [g.group_id for g in groups for _ in g.negatives]
    w, n = within_auc(lab, np.r_[gold, neg], gid)
    soft_right = np.asarray(
        [
            triple_matches(t, g.anchor, "soft", g.lang, default_relation_classes(None, g.lang))
            for g in groups
            for t in g.negatives
        ],
        dtype=bool,
    )
    lab_soft = np.r_[np.ones(len(gold)), soft_right.astype(float)]
    return {
        "groups": len(groups),
        "gold_text_auc": roc_auc(lab, np.r_[gold, neg]),
        "gold_text_auc_within_group": w,
        "groups_scored": n,
        "per_corruption": per_kind,
        "gold_text_auc_soft": roc_auc(lab_soft, np.r_[gold, neg]),
        "negatives_right_under_soft": {k: int(soft_right[kinds == k].sum()) for k in sorted(set(kinds))},
        "negatives": {k: int((kinds == k).sum()) for k in sorted(set(kinds))},
        "wall_s": round(wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", help="real LLM candidates (Candidate JSONL)")
    ap.add_argument("--gold", help="gold records of the candidates' documents")
    ap.add_argument("--groups", help="typed-negative groups (perturb.v1 JSONL) for the gold text AUC")
    ap.add_argument("--groups-limit", type=int, default=None, help="first N groups by id")
    ap.add_argument("--models", nargs="+", default=[], help="name=model_dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-text-length", type=int, help="score through a text window of N tokens (default: trained)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res: dict = {}
    if args.candidates:
        rows = list(read_jsonl(args.candidates, Candidate))
        labels = label_candidates(rows, args.gold)
        res["rules (schema + mentions, 0/1/1.5)"] = real_report(rows, labels, rule_score(rows))
        for spec in args.models:
            name, d = spec.split("=", 1)
            s, rate = score_model(d, rows, args.max_text_length)
            np.save(out / f"{name}_scores.npy", s)
            res[name] = {**real_report(rows, labels, s), "candidates_per_s": round(rate, 1)}
            print(name, json.dumps(res[name]["soft"]), f"{rate:.1f} cand/s", flush=True)
    if args.groups:
        for spec in args.models:
            name, d = spec.split("=", 1)
            res.setdefault("typed", {})[name] = groups_report(d, args.groups, args.groups_limit, args.max_text_length)
            print(name, json.dumps(res["typed"][name]), flush=True)
    (out / "metrics.json").write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(res, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
