"""A first calibrated keep/reject decision on real LLM candidates (issue "One calibrated keep/reject decision").

Calibration candidates: real local-LLM candidates of DuIE *train* documents that the verifier never trained on
(the documents its trainer held out for validation: ``split_groups`` of the training groups with the run's seed).
Each candidate is canonicalised (``verifier.repair``), labelled as ``verifier eval`` labels it, and described by
grounding features: the model's score (logit of its probability), relation in the schema after repair, head and
tail found in the text, repaired or not. A logistic regression (scikit-learn) over them gives ``p_correct``;
tau is chosen for F1 on the calibration candidates; the test candidates (local-LLM extractions of DuIE *dev*
sentences) are then filtered once. Nothing is fitted or chosen on the test set.

    python experiments/decision_real.py --model runs/v16/late/best --groups runs/v16/groups/train.jsonl \
        --calib-candidates ../shared/data/duie/llm/train_qwen1.5b_extract/candidates.jsonl \
        --test-candidates runs/results/llm15/candidates.jsonl --test-gold runs/results/llm15/gold.jsonl \
        --out runs/results/decision15
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from eval.align import relation_classes  # noqa: E402
from eval.metrics import roc_auc, triple_prf  # noqa: E402
from verifier.io import read_jsonl  # noqa: E402
from verifier.lexicon import lexicon_for  # noqa: E402
from verifier.repair import RelationIndex, canonicalize  # noqa: E402
from verifier.schema import Candidate, GoldRecord, Triple  # noqa: E402

FEATURES = ["model_logit", "in_schema", "head_in_text", "tail_in_text", "repaired"]


def repaired(rows: list[Candidate]) -> tuple[list[Candidate], list[bool]]:
    lex = lexicon_for("duie")
    idx = RelationIndex(lex)
    out, changed = [], []
    for r in rows:
        fix = canonicalize(r.triple, r.text, lex, idx)
        out.append(r.model_copy(update={"triple": fix.triple}))
        changed.append(bool(fix.changes))
    return out, changed


def prf_and_labels(rows: list[Candidate], gold: dict[str, list[Triple]], mode: str) -> tuple[dict, np.ndarray]:
    rc = relation_classes(lexicon_for("duie"), "zh")
    by_doc: dict[str, list[Triple]] = defaultdict(list)
    for r in rows:
        by_doc[r.doc_id].append(r.triple)
    langs = dict.fromkeys(gold, "zh")
    p, _, correct = triple_prf(dict(by_doc), gold, mode, langs, rc)  # type: ignore[arg-type]
    seen: dict[str, int] = defaultdict(int)
    lab = []
    for r in rows:
        lab.append(int(correct[r.doc_id][seen[r.doc_id]]))
        seen[r.doc_id] += 1
    return p.model_dump(), np.asarray(lab)


def kept_prf(rows: list[Candidate], keep: np.ndarray, gold: dict[str, list[Triple]]) -> dict:
    kept = [r for r, k in zip(rows, keep, strict=True) if k]
    return {m: prf_and_labels(kept, gold, m)[0] if kept else None for m in ("strict", "soft")} | {"kept": len(kept)}


def features(rows: list[Candidate], changed: list[bool], scores: np.ndarray) -> np.ndarray:
    schema = set(lexicon_for("duie").relations)
    s = np.clip(scores, 1e-6, 1 - 1e-6)
    return np.column_stack(
        [
            np.log(s / (1 - s)),
            [r.triple.relation in schema for r in rows],
            [r.triple.head in r.text for r in rows],
            [r.triple.tail in r.text for r in rows],
            changed,
        ]
    ).astype(float)


def ece(labels: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    return float(
        sum(
            abs(labels[which == b].mean() - p[which == b].mean()) * (which == b).mean()
            for b in range(bins)
            if (which == b).any()
        )
    )


def best_f1_tau(labels: np.ndarray, p: np.ndarray) -> float:
    best, tau = -1.0, 0.5
    for t in np.unique(p):
        k = p >= t
        tp = (labels & k).sum()
        f1 = 2 * tp / (k.sum() + labels.sum()) if k.sum() + labels.sum() else 0.0
        if f1 > best:
            best, tau = f1, float(t)
    return tau


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--groups", required=True, help="the model's training groups (to recover its held-out docs)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--calib-candidates", required=True)
    ap.add_argument("--test-candidates", required=True)
    ap.add_argument("--test-gold", required=True)
    ap.add_argument("--label-mode", default="soft", choices=["soft", "strict"])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    from sklearn.linear_model import LogisticRegression

    from verifier.data.catalog import load_split
    from verifier.data.groups import read_groups
    from verifier.model.bce import load_verifier
    from verifier.train import split_groups

    _, val = split_groups(read_groups(args.groups)[0], args.val_fraction, args.seed)
    val_docs = {g.doc_id for g in val}
    train_gold = {g.doc_id: g.triples for g in load_split("duie", "train") if g.doc_id in val_docs}
    calib = [r for r in read_jsonl(args.calib_candidates, Candidate) if r.doc_id in val_docs]
    test = list(read_jsonl(args.test_candidates, Candidate))
    test_gold = {g.doc_id: g.triples for g in read_jsonl(args.test_gold, GoldRecord)}
    model = load_verifier(args.model).eval()
    res: dict = {"calibration_docs": len({r.doc_id for r in calib}), "calibration_candidates": len(calib)}
    sets = {}
    for name, rows, gold in (("calib", calib, train_gold), ("test", test, test_gold)):
        fixed, changed = repaired(rows)
        s, _, _ = model.score_pairs([r.text for r in fixed], [r.triple for r in fixed], [r.lang for r in fixed])
        _, lab = prf_and_labels(fixed, gold, args.label_mode)
        sets[name] = (fixed, changed, np.asarray(s, dtype=float), lab, gold)
        raw_prf = {m: prf_and_labels(rows, gold, m)[0] for m in ("strict", "soft")}
        res[name] = {
            "candidates": len(rows),
            "positives": int(lab.sum()),
            "raw": raw_prf,
            "repaired_all": {m: prf_and_labels(fixed, gold, m)[0] for m in ("strict", "soft")},
            "model_auc_repaired": roc_auc(lab, sets[name][2]),
        }
    fc, cc, sc, yc, _ = sets["calib"]
    ft, ct, st, yt, gt = sets["test"]
    xc, xt = features(fc, cc, sc), features(ft, ct, st)
    lr = LogisticRegression(C=1.0, max_iter=1000).fit(xc, yc)
    pc, pt = lr.predict_proba(xc)[:, 1], lr.predict_proba(xt)[:, 1]
    tau = best_f1_tau(yc.astype(bool), pc)
    rules = xt[:, 1].astype(bool) & xt[:, 2].astype(bool) & xt[:, 3].astype(bool)
    tau_m = best_f1_tau(yc.astype(bool), sc)
    test_raw_rows = [Candidate.model_validate(r.model_dump()) for r in test]
    res["decision"] = {
        "features": FEATURES,
        "coef": lr.coef_[0].round(4).tolist(),
        "intercept": round(float(lr.intercept_[0]), 4),
        "calibration_base_rate": float(yc.mean()),
        "tau": tau,
        "test_auc_p_correct": roc_auc(yt, pt),
        "test_ece": ece(yt, pt),
        "calib_ece": ece(yc, pc),
    }
    res["test_rows"] = {
        "raw": kept_prf(test_raw_rows, np.ones(len(test), bool), gt),
        "rules (schema + mentions), no repair": kept_prf(
            test_raw_rows, features(test, [False] * len(test), st)[:, 1:4].all(1), gt
        ),
        "repair + rules": kept_prf(ft, rules, gt),
        "model alone (repaired, tau for F1 on calibration)": kept_prf(ft, st >= tau_m, gt),
        "repair + rules + model (model tau)": kept_prf(ft, rules & (st >= tau_m), gt),
        "p_correct >= tau (logistic regression)": kept_prf(ft, pt >= tau, gt),
    }
    res["model_tau"] = tau_m
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(res, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
