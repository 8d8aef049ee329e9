"""Metrics: triple-level micro P/R/F1 (overall and per relation), ROC AUC (sklearn), and the canonical
zero-shot macro P/R/F1."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from verifier.align import Mode, match_document, norm_relation
from verifier.schema import Triple


class PRF(BaseModel):
    model_config = ConfigDict(extra="forbid")

    precision: float
    recall: float
    f1: float
    tp: int
    pred: int
    gold: int


def prf(tp: int, n_pred: int, n_gold: int) -> PRF:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return PRF(precision=p, recall=r, f1=f, tp=tp, pred=n_pred, gold=n_gold)


def triple_prf(
    pred: dict[str, list[Triple]],
    gold: dict[str, list[Triple]],
    mode: Mode,
    langs: dict[str, str],
    rel_classes: dict[str, str] | None = None,
) -> tuple[PRF, dict[str, PRF], dict[str, list[bool]]]:
    """Micro P/R/F1 over documents; per-relation breakdown (keyed by the gold/pred relation); and for each
    document the per-prediction correctness (for labelling candidates)."""
    tp = n_pred = n_gold = 0
    rel_tp: Counter[str] = Counter()
    rel_pred: Counter[str] = Counter()
    rel_gold: Counter[str] = Counter()
    correct: dict[str, list[bool]] = {}
    for doc in set(pred) | set(gold):
        p, g = pred.get(doc, []), gold.get(doc, [])
        lang = langs.get(doc, "zh")
        assigned, _ = match_document(p, g, mode, lang, rel_classes)
        correct[doc] = [a is not None for a in assigned]
        tp += sum(correct[doc])
        n_pred += len(p)
        n_gold += len(g)
        for t, a in zip(p, assigned, strict=True):
            rel_pred[norm_relation(t.relation, lang)] += 1
            if a is not None:
                rel_tp[norm_relation(g[a].relation, lang)] += 1
        for t in g:
            rel_gold[norm_relation(t.relation, lang)] += 1
    per_rel = {r: prf(rel_tp[r], rel_pred[r], rel_gold[r]) for r in sorted(set(rel_gold) | set(rel_pred))}
    return prf(tp, n_pred, n_gold), per_rel, correct


def label_candidates(
    rows: list[Any], gold: dict[str, Any], mode: Mode, rel_classes: dict[str, str] | None = None
) -> list[int | None]:
    """1/0 per candidate row: whether eval's ``mode`` matching pairs it with a gold triple of its document
    (``gold``: doc_id -> GoldRecord). Rows that already carry a label keep it; a row of a document that has no
    gold record stays None (unlabelled, not wrong)."""
    by_doc: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_doc.setdefault(r.doc_id, []).append(i)
    _, _, correct = triple_prf(
        {d: [rows[i].triple for i in idx] for d, idx in by_doc.items()},
        {d: g.triples for d, g in gold.items() if d in by_doc},
        mode,
        {d: g.lang for d, g in gold.items()},
        rel_classes,
    )
    out: list[int | None] = [r.label for r in rows]
    for d, idx in by_doc.items():
        if d not in gold:
            continue
        for i, ok in zip(idx, correct[d], strict=True):
            out[i] = rows[i].label if rows[i].label is not None else int(ok)
    return out


def gold_positives(rows: list[Any], gold: dict[str, Any]) -> tuple[int, dict[str, int]]:
    """Recall's denominator as ``verifier eval`` counts it, for the documents ``rows`` come from: their gold
    triples in all, and per relation (``gold``: doc_id -> GoldRecord)."""
    docs = {r.doc_id for r in rows} & gold.keys()
    by_relation = Counter(t.relation for d in docs for t in gold[d].triples)
    return sum(by_relation.values()), dict(by_relation)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC via sklearn, ignoring NaN scores; None when one class is missing."""
    from sklearn.metrics import roc_auc_score

    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    ok = ~np.isnan(scores)
    labels, scores = labels[ok], scores[ok]
    if len(set(labels.tolist())) < 2:
        return None
    return float(roc_auc_score(labels, scores))


def zero_shot_macro(gold_labels: list[str], pred_labels: list[str], labels: list[str] | None = None) -> PRF:
    """The canonical zero-shot RE macro P/R/F1 shared by ZS-BERT, RE-Matching and AlignRE: precision is
    averaged over the distinct predicted labels, recall over the distinct gold labels, and F1 is the harmonic
    mean of the two macro averages. ``labels``: average both over these labels only (a label never predicted
    has precision 0), so that answers outside them cost recall instead of adding a zero-precision label each."""
    gold_labels, pred_labels = list(gold_labels), list(pred_labels)
    labels_p, labels_g = sorted(set(pred_labels)), sorted(set(gold_labels))
    if labels is not None:
        labels_p = labels_g = sorted(labels)
    hits = Counter(g for g, p in zip(gold_labels, pred_labels, strict=True) if g == p)
    n_pred, n_gold = Counter(pred_labels), Counter(gold_labels)
    p = float(np.mean([hits[lab] / n_pred[lab] if n_pred[lab] else 0.0 for lab in labels_p])) if labels_p else 0.0
    r = float(np.mean([hits[lab] / n_gold[lab] for lab in labels_g])) if labels_g else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return PRF(precision=p, recall=r, f1=f, tp=sum(hits.values()), pred=len(pred_labels), gold=len(gold_labels))


def reliability(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error over ``bins`` equal-width probability bins, and the bins (count, mean predicted
    probability, observed rate) behind the reliability diagram: ECE = sum_b n_b / N * |rate_b - mean_p_b|."""
    y, p = np.asarray(labels, dtype=float), np.asarray(probs, dtype=float)
    ok = ~np.isnan(p)
    y, p = y[ok], p[ok]
    which = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        rate, mean_p = float(y[m].mean()), float(p[m].mean())
        ece += m.mean() * abs(rate - mean_p)
        out.append({"bin": b, "n": int(m.sum()), "mean_p": mean_p, "rate": rate})
    return float(ece), out
