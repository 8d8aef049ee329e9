"""Results section 5, the gate (issue #18): zero-shot matcher candidates before and after a keep/reject gate.

For each m and seed (a FewRel val_wiki split with ``--n-val`` validation relations held out beside the m test
ones), each matcher is trained as in ``bench/zsre.py`` and answers every test sentence (one candidate per entity
pair: its best unseen relation) and every validation sentence (its best validation relation). A trained verifier
(``--verifier``: by default the adopted late-fusion model with entity markers, trained on DuIE LLM errors; it
never saw FewRel) scores each candidate (text, head, relation name, tail) -> S_st. Three gates, each fitted and
thresholded on the *validation* relations' candidates only (never the test ones):

- ``verifier``: S_st alone;
- ``margin``: the matcher's own confidence, its corrected score's lead over the runner-up relation;
- ``margin_norm`` (the headline, docs/results/zsre18/gate_rule.txt): the margin divided by the mean margin of its
  own candidates (label-free; the validation and test relation sets put margins on different scales: the raw
  margin's validation threshold kept 34-60 % of the right test candidates on three of fifteen m = 5 runs);
- ``both``: a logistic regression (scikit-learn) on S_st and the normalised margin.

The threshold keeps ``--keep-true`` of the validation relations' right candidates (a recall target chosen
before looking at any test figure). Reported per gate on the test candidates: precision before and after, the
share of right candidates kept, and the ROC AUC of the gate's score for right vs wrong. Writes
``<out>/metrics.json`` (every run) and ``<out>/summary.json``.

    python -m experiments.matcher_gate --out runs/results/zsre_gate2 --ms 5 10 --seeds 40 41 42
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from verifier.io import InputError, read_jsonl


def verifier_scores(model: Any, preds: list[Any], names: dict[str, str]) -> np.ndarray:
    """S_st of each prediction as a (text, head, relation name, tail) candidate."""
    from verifier.filter import score_rows
    from verifier.schema import Candidate, Provenance, Triple

    prov = Provenance(generator="matcher")
    rows = [
        Candidate(
            doc_id=p.doc_id,
            text=p.text,
            provenance=prov,
            triple=Triple(
                head=p.head,
                relation=names.get(p.relation, p.relation),
                relation_id=p.relation,
                tail=p.tail,
                head_span=p.head_span,
                tail_span=p.tail_span,
            ),
        )
        for p in preds
    ]
    return np.asarray(score_rows(model, rows, view_source=None)[0], dtype=float)


def threshold_keeping(score: np.ndarray, y: np.ndarray, keep_true: float) -> float:
    """The highest threshold whose rule ``score >= t`` keeps at least ``keep_true`` of the right rows."""
    right = np.sort(score[y == 1])[::-1]
    if not len(right):
        return float("-inf")
    return float(right[min(len(right) - 1, int(np.ceil(keep_true * len(right))) - 1)])


def gate_report(score: np.ndarray, y: np.ndarray, t: float) -> dict[str, Any]:
    from verifier.metrics import roc_auc

    keep = score >= t
    return {
        "threshold": t,
        "kept": int(keep.sum()),
        "precision_after": float(y[keep].mean()) if keep.any() else None,
        "true_kept": float((keep & (y == 1)).sum() / max(1, y.sum())),
        "auc": roc_auc(y, score) if 0 < y.sum() < len(y) else None,
    }


def fit_gates(val: dict[str, np.ndarray], y_val: np.ndarray, keep_true: float) -> dict[str, Any]:
    """Per gate: a function from features to a score, and its threshold, all from the validation candidates.

    The ``verifier`` and ``both`` gates are fitted only when the features carry the verifier's ``s_st``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    gates: dict[str, Any] = {
        "margin": lambda f: f["margin"],
        "margin_norm": lambda f: f["margin"] / max(float(f["margin"].mean()), 1e-9),
    }
    if "s_st" in val:
        gates["verifier"] = lambda f: f["s_st"]
    if "s_st" in val and 0 < y_val.sum() < len(y_val):
        x = np.c_[val["s_st"], gates["margin_norm"](val)]
        lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y_val)
        gates["both"] = lambda f, lr=lr: lr.predict_proba(np.c_[f["s_st"], gates["margin_norm"](f)])[:, 1]
    return {k: (g, threshold_keeping(g(val), y_val, keep_true)) for k, g in gates.items()}


def run_folders(root: Path, name: str, m: int, seed: int) -> list[Path]:
    """Every bench.zsre run folder of one matcher, m and seed under ``root``: ``NAME-mM-sSEED`` and its folds."""
    found = [root / f"{name}-m{m}-s{seed}", *sorted(root.glob(f"{name}-m{m}-s{seed}-f*"))]
    found = [d for d in found if (d / "predictions.jsonl").exists()]
    if not found:
        raise InputError(root, 0, "--runs-from", f"no {name}-m{m}-s{seed}[-fK]/predictions.jsonl")
    return found


def gate_row(preds: list[Any], model: Any | None, names: dict[str, str], keep_true: float) -> dict[str, Any]:
    """One run's gates: fitted on its validation candidates, reported on its test candidates.

    Without a verifier (``model`` None) only the margin gates are fitted.
    """
    feats, ys = {}, {}
    for part in ("val", "test"):
        ps = [p for p in preds if p.part == part]
        feats[part] = {"margin": np.array([p.margin for p in ps])}
        if model is not None:
            feats[part]["s_st"] = verifier_scores(model, ps, names)
        ys[part] = np.array([int(p.relation == p.gold) for p in ps])
    row: dict[str, Any] = {
        "test": len(ys["test"]),
        "precision_before": float(ys["test"].mean()),
        "val": len(ys["val"]),
        "val_precision": float(ys["val"].mean()),
    }
    for gate, (g, t) in fit_gates(feats["val"], ys["val"], keep_true).items():
        row[gate] = gate_report(g(feats["test"]), ys["test"], t)
    return row


def summarise(rs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over runs per gate, with the lowest share of right candidates kept and the lowest precision gain."""
    s: dict[str, Any] = {"runs": len(rs), "precision_before": float(np.mean([r["precision_before"] for r in rs]))}
    for gate in ("verifier", "margin", "margin_norm", "both"):
        g = [(r["precision_before"], r[gate]) for r in rs if gate in r]
        if not g:
            continue
        s[gate] = {
            k: float(np.mean([x[k] for _, x in g if x[k] is not None])) for k in ("precision_after", "true_kept", "auc")
        }
        s[gate]["min_true_kept"] = float(min(x["true_kept"] for _, x in g))
        gains = [x["precision_after"] - b for b, x in g if x["precision_after"] is not None]
        s[gate]["min_gain"] = float(min(gains)) if gains else None
    return s


def main() -> None:
    """Exit 2 with one located line (file, line, field) on bad input."""
    try:
        gate_runs()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def gate_runs() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/results/zsre_gate2")
    ap.add_argument("--ms", type=int, nargs="+", default=[5])
    ap.add_argument("--seeds", type=int, nargs="+", default=[40, 41, 42])
    ap.add_argument("--matchers", nargs="+", default=["zrcm", "sdzre"])
    ap.add_argument(
        "--verifier", default="runs/v16/mark/best", help="a trained verifier folder; 'none': the margin gates only"
    )
    ap.add_argument("--keep-true", type=float, default=0.8, help="share of validation right candidates kept")
    ap.add_argument("--n-val", type=int, default=3)
    ap.add_argument("--config", default=None, help="a TOML [zsre] table: the matchers' settings (bench.zsre's)")
    ap.add_argument("--reuse-trained", action="store_true", help="read predictions.jsonl of an earlier run")
    ap.add_argument(
        "--runs-from",
        default=None,
        help="read every run folder NAME-mM-sSEED[-fK] of this bench.zsre output (folds included); implies reuse",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from generation.matching.zsre import Prediction, ZsreConfig, load_dataset, run_zsre
    from verifier.config import resolve_config
    from verifier.filter import load_for_inference

    model = None if args.verifier == "none" else load_for_inference(args.verifier)
    names = {}  # relation names, for the verifier's candidates only
    if model is not None:
        names = {r: i.name for ds in ("wikizsl", "fewrel") for r, i in load_dataset(ds, None, None)[1].items()}
    runs: list[dict[str, Any]] = []
    for m in args.ms:
        for seed in args.seeds:
            for name in args.matchers:
                t0 = time.perf_counter()
                if args.runs_from:
                    run_dirs = run_folders(Path(args.runs_from), name, m, seed)
                else:
                    run_dir = out / f"{name}-m{m}-s{seed}"
                    if not (args.reuse_trained and (run_dir / "predictions.jsonl").exists()):
                        fields = {"model": name, "m": m, "seed": seed, "n_val": args.n_val, "progress": False}
                        run_zsre(resolve_config(ZsreConfig, args.config, {**fields, "out": str(run_dir)}))
                    run_dirs = [run_dir]
                for run_dir in run_dirs:
                    preds = list(read_jsonl(run_dir / "predictions.jsonl", Prediction))
                    row = gate_row(preds, model, names, args.keep_true)
                    row = {"matcher": name, "m": m, "seed": seed, "run": run_dir.name, **row}
                    row["s"] = round(time.perf_counter() - t0, 1)
                    runs.append(row)
                    print(json.dumps(row), flush=True)
                    (out / "metrics.json").write_text(json.dumps(runs, indent=2), encoding="utf-8")
    summary: dict[str, Any] = {}
    for m in args.ms:
        for name in args.matchers:
            rs = [r for r in runs if r["m"] == m and r["matcher"] == name]
            s = summarise(rs)
            summary[f"m={m} {name}"] = s
            print(f"m={m} {name}: {json.dumps(s)}", flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
