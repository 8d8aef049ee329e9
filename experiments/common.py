"""What the experiments share: Table 3's DeepSeek-V3 raw rates, peak memory, group AUCs, and the one declared
layout of the ``scores.npz`` files that ``cacre_duie`` and ``dev_short`` write and ``auc_ci`` reads.

``scores.npz`` layout: for each split prefix (``val``, ``test``) and each stand-in for a right candidate
(``anchor``: the gold triple in schema form; ``positive``: its paraphrase), three aligned float/int arrays
``<prefix>_<gold>_s_st``, ``<prefix>_<gold>_s_tt`` (NaN where no view) and ``<prefix>_<gold>_label`` (1 for the
right triples, which come first, then 0 for the group negatives), as :func:`labelled` orders them.

Run any experiment from the repository root as a module: ``python -m experiments.<name> --help``.
"""

from __future__ import annotations

import argparse
import random
import resource
from typing import Any

import numpy as np

TABLE3_DEEPSEEK = {"precision": 0.652, "recall": 0.801}
"""CACRE Table 3's raw DeepSeek-V3 precision and recall on DuIE2.0 (the mixed set's target rates)."""


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def view_aucs(sc: Any) -> dict[str, Any]:
    """Overall and per-corruption-type AUC of both views from GroupScores."""
    from verifier.train import auc_pos_neg as auc

    out: dict[str, Any] = {
        "text_auc": auc(sc.text_pos, sc.text_neg),
        "gold_text_auc": auc(sc.text_gold, sc.text_neg),
        "anchor_auc": auc(sc.anchor_pos, sc.anchor_neg),
        "positives": len(sc.text_pos),
        "negatives": len(sc.text_neg),
        "per_corruption": {},
    }
    kinds = sorted({k or "unknown" for k in sc.neg_corruptions})
    for k in kinds:
        idx = [i for i, c in enumerate(sc.neg_corruptions) if (c or "unknown") == k]
        out["per_corruption"][k] = {
            "n": len(idx),
            "text_auc": auc(sc.text_pos, [sc.text_neg[i] for i in idx]),
            "gold_text_auc": auc(sc.text_gold, [sc.text_neg[i] for i in idx]),
            "anchor_auc": auc(sc.anchor_pos, [sc.anchor_neg[i] for i in idx]) if sc.anchor_neg else None,
        }
    return out


def labelled(sc: Any, gold: str = "anchor") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S_st, S_tt and labels of the correct triples then the negatives. ``gold``: which correct triple stands
    for a right candidate: ``anchor`` (the gold triple in schema form, as an LLM extraction states it; its S_tt
    against the group's positive) or ``positive`` (the paraphrase; S_tt against the anchor)."""
    st_pos, tt_pos = (sc.text_gold, sc.tt_gold) if gold == "anchor" else (sc.text_pos, sc.anchor_pos)
    s_st = np.asarray(st_pos + sc.text_neg, dtype=np.float64)
    same = len(tt_pos) == len(st_pos) and len(sc.anchor_neg) == len(sc.text_neg)
    s_tt = np.asarray(tt_pos + sc.anchor_neg, dtype=np.float64) if same else np.full(len(s_st), np.nan)
    y = np.asarray([1] * len(st_pos) + [0] * len(sc.text_neg))
    return s_st, s_tt, y


def score_arrays(prefix: str, sc: Any) -> dict[str, np.ndarray]:
    """The declared ``scores.npz`` layout (module docstring) for one split ``prefix`` of GroupScores."""
    out = {}
    for gold in ("anchor", "positive"):
        s_st, s_tt, y = labelled(sc, gold)
        out |= {f"{prefix}_{gold}_s_st": s_st, f"{prefix}_{gold}_s_tt": s_tt, f"{prefix}_{gold}_label": y}
    return out


def mixed_set(sc: Any, target: dict[str, float], seed: int) -> np.ndarray:
    """Indices into labelled(sc) forming a candidate set with the target raw precision and recall: a share
    ``recall`` of the gold triples (one per group) plus enough typed negatives for ``precision``."""
    rng = np.random.default_rng(seed)
    n_pos_all, n_neg_all = len(sc.text_pos), len(sc.text_neg)
    n_pos = round(target["recall"] * n_pos_all)
    n_neg = min(n_neg_all, round(n_pos * (1 - target["precision"]) / target["precision"]))
    pos = rng.choice(n_pos_all, n_pos, replace=False)
    neg = n_pos_all + rng.choice(n_neg_all, n_neg, replace=False)
    return np.concatenate([pos, neg])


def prf_of(keep: np.ndarray, y: np.ndarray, n_gold: int) -> dict[str, float]:
    from verifier.metrics import prf

    tp = int((keep & (y == 1)).sum())
    return prf(tp, int(keep.sum()), n_gold).model_dump()


def calibration_features(model_dir: str, val: str, gold_path: str, label_mode: str) -> dict[str, Any]:
    """The calibration candidates as ``verifier calibrate --decision`` sees them: repaired, labelled against
    gold, scored by the model and turned into grounding features (``x``, ``y``, ``docs``, ``rows``, ``gold``)."""
    from verifier.calibration import repaired_labelled_rows
    from verifier.filter import decision_features, default_lexicons, load_for_inference, score_rows
    from verifier.io import read_jsonl
    from verifier.schema import Candidate, GoldRecord

    gold = {g.doc_id: g for g in read_jsonl(gold_path, GoldRecord)}
    rows, originals = repaired_labelled_rows(list(read_jsonl(val, Candidate)), gold, label_mode, None)
    model = load_for_inference(model_dir, "cpu")
    s_st, _ = score_rows(model, rows, lexicon=None)
    x = decision_features(rows, s_st, originals, default_lexicons(None), model)
    y = np.asarray([r.label for r in rows], dtype=int)
    return {"x": x, "y": y, "docs": np.asarray([r.doc_id for r in rows]), "rows": rows, "gold": gold}


def document_halves(docs: np.ndarray, repeats: int) -> list[np.ndarray]:
    """Masks of one half of the documents for ``repeats`` seeded splits (the other half is ``~mask``)."""
    names = sorted(set(docs.tolist()))
    out = []
    for rep in range(repeats):
        shuffled = list(names)
        random.Random(rep).shuffle(shuffled)
        out.append(np.isin(docs, shuffled[: len(shuffled) // 2]))
    return out


def calibration_parser(description: str) -> argparse.ArgumentParser:
    """The flags every calibration-set experiment takes (model, candidates, gold, labels, splits, output)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", required=True)
    ap.add_argument("--val", required=True, help="held-out LLM candidates of training documents")
    ap.add_argument("--gold", required=True)
    ap.add_argument("--label-mode", default="soft")
    ap.add_argument("--repeats", type=int, default=10, help="seeded document halvings")
    ap.add_argument("--out", required=True)
    return ap
