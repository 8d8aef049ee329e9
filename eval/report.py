"""``verifier eval``: one evaluation run -> metrics.json, scores.jsonl, PNGs and markdown tables.

Inputs: the kept predictions (``--pred``), gold records (``--gold``), and optionally every scored candidate
(``--candidates``: the kept and rejected files of ``filter``) for the before/after comparison, ROC/PR curves,
similarity histograms, P/R/F1-against-tau curves and hallucination rates per corruption type. With
``--model`` and ``--probe onlyc onlym`` it re-scores the candidates with the entity mentions masked in the text
(OnlyC) or with the mentions alone (OnlyM) and reports the AUC change (context-or-names): a verifier that
keeps its AUC with the context removed is reading names, not text.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from verifier.align import default_relation_classes
from verifier.config import StageConfig
from verifier.decision import Thresholds
from verifier.io import InputError, read_candidate_rows, read_jsonl, write_json, write_jsonl
from verifier.metrics import PRF, roc_auc, triple_prf
from verifier.schema import Candidate, GoldRecord, ScoredCandidate, Triple

log = logging.getLogger(__name__)
Probe = Literal["onlyc", "onlym"]


class EvalConfig(StageConfig):
    section = "eval"

    pred: str = ""
    """Kept predictions (filter output)."""
    gold: str = ""
    """Gold records JSONL (`verifier data export`)."""
    candidates: list[str] = Field(default_factory=list)
    """All scored candidates before filtering (e.g. kept.jsonl rejected.jsonl)."""
    out: str = "runs/eval"
    """Report folder (report.json, report.md and the ROC data)."""
    lexicon: str | None = None
    """Dataset whose relation synonyms the soft match accepts (default: duie for Chinese)."""
    model: str | None = None
    """Verifier directory, needed for --probe."""
    probe: list[Probe] = Field(default_factory=list)
    """Shortcut probes: onlyc (mentions masked) and/or onlym (mentions only)."""
    label_mode: Literal["strict", "soft"] = "strict"
    """How candidates without a label are labelled against gold for ROC/AUC."""


def _by_doc(rows: list[Any]) -> dict[str, list[Triple]]:
    out: dict[str, list[Triple]] = defaultdict(list)
    for r in rows:
        out[r.doc_id].append(r.triple)
    return out


def _table3(before: dict[str, PRF] | None, after: dict[str, PRF]) -> str:
    lines = [
        "| match | raw P | raw R | raw F1 | filtered P | filtered R | filtered F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode in ("strict", "soft"):
        a = after[mode]
        if before is not None:
            b = before[mode]
            d = lambda x, y: f"{100 * y:.1f} ({100 * (y - x):+.1f})"  # noqa: E731
            lines.append(
                f"| {mode} | {100 * b.precision:.1f} | {100 * b.recall:.1f} | {100 * b.f1:.1f} | "
                f"{d(b.precision, a.precision)} | {d(b.recall, a.recall)} | {d(b.f1, a.f1)} |"
            )
        else:
            lines.append(f"| {mode} | - | - | - | {100 * a.precision:.1f} | {100 * a.recall:.1f} | {100 * a.f1:.1f} |")
    return "\n".join(lines)


def _labels(rows: list[Any], correct: dict[str, list[bool]]) -> np.ndarray:
    seen: Counter[str] = Counter()
    out = []
    for r in rows:
        i = seen[r.doc_id]
        seen[r.doc_id] += 1
        out.append(r.label if r.label is not None else int(correct.get(r.doc_id, [False] * (i + 1))[i]))
    return np.asarray(out, dtype=int)


def tau_curves(
    s_st: np.ndarray,
    s_tt: np.ndarray,
    labels: np.ndarray,
    thresholds: Thresholds | None,
    n_gold_pos: int,
    grid: int = 101,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """P/R/F1 of the gate as one global tau1 sweeps [-1, 1] at the calibrated tau2 (off without thresholds)."""
    taus = np.linspace(-1, 1, grid)
    base = thresholds or Thresholds(tau1=0.0)
    p, r, f = [], [], []
    for t in taus:
        keep, _ = base.override(tau1=float(t)).gate(s_st, s_tt)
        tp = int((keep & (labels == 1)).sum())
        prec = tp / keep.sum() if keep.sum() else 0.0
        rec = tp / n_gold_pos if n_gold_pos else 0.0
        p.append(prec)
        r.append(rec)
        f.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return taus, np.array(p), np.array(r), np.array(f)


class ProbeScorer(BaseModel):
    """What the shortcut probes need from a verifier (handed in by the caller, so eval does not load models):
    ``score`` maps candidate rows to (S_st, S_tt) arrays; ``mask_token`` replaces masked mentions."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    score: Callable[[list[Candidate]], tuple[np.ndarray, np.ndarray]]
    mask_token: str


def probe_aucs(scorer: ProbeScorer, rows: list[Any], probes: list[Probe]) -> dict[str, Any]:
    """Text and anchor AUC of the labelled rows with the full text and under each probe, with the deltas."""
    from verifier.model.inputs import mask_mentions, only_mentions

    mask = scorer.mask_token
    cands = [
        Candidate.model_validate({k: v for k, v in r.model_dump().items() if k in Candidate.model_fields}) for r in rows
    ]
    labels = np.asarray([r.label if r.label is not None else -1 for r in cands])
    ok = labels >= 0
    out: dict[str, Any] = {}
    base_st, base_tt = scorer.score(cands)
    out["full"] = {"text_auc": roc_auc(labels[ok], base_st[ok]), "anchor_auc": roc_auc(labels[ok], base_tt[ok])}
    for probe in probes:
        if probe == "onlyc":
            changed = [
                c.model_copy(update={"text": mask_mentions(c.text, [c.triple.head, c.triple.tail], mask)})
                for c in cands
            ]
        else:
            changed = [c.model_copy(update={"text": only_mentions(c.text, c.triple, c.lang)}) for c in cands]
        st, tt = scorer.score(changed)
        res = {"text_auc": roc_auc(labels[ok], st[ok]), "anchor_auc": roc_auc(labels[ok], tt[ok])}
        for k in ("text_auc", "anchor_auc"):
            full, now = out["full"][k], res[k]
            res[f"delta_{k}"] = None if full is None or now is None else now - full
        out[probe] = res
    return out


class PassRate(BaseModel):
    """Negatives of one corruption type that the filter kept."""

    model_config = ConfigDict(extra="forbid")

    n: int
    kept: int
    rate: float


class CalibrationReport(BaseModel):
    """How well ``p_correct`` is calibrated: expected calibration error, the reliability bins, and its AUC."""

    model_config = ConfigDict(extra="forbid")

    ece: float
    bins: list[dict[str, float]]
    auc_p_correct: float | None


class EvalReport(BaseModel):
    """What one eval run measured (``metrics.json``; a part is absent when its inputs were not given)."""

    model_config = ConfigDict(extra="forbid")

    after: dict[str, PRF]
    """Kept predictions against gold, per matching mode (strict, soft)."""
    per_relation_after: dict[str, dict[str, PRF]]
    n_gold_docs: int
    n_gold_triples: int
    before: dict[str, PRF] | None = None
    """Every candidate (``--candidates``) against gold: the unfiltered row of Table 3."""
    auc: dict[str, float | None] | None = None
    """ROC AUC of S_st (``text``) and S_tt (``anchor``) against the candidates' labels."""
    calibration: CalibrationReport | None = None
    """Present when the candidates carry ``p_correct``."""
    hallucination_pass_rate: dict[str, PassRate] | None = None
    probes: dict[str, Any] | None = None
    """Context-or-names probes (``--probe``)."""

    def to_json(self) -> dict[str, Any]:
        """The ``metrics.json`` layout: the parts that were measured."""
        return self.model_dump(mode="json", exclude_none=True)


def run_eval(cfg: EvalConfig, probe_scorer: ProbeScorer | None = None) -> EvalReport:
    """``probe_scorer``: the verifier that ``--probe`` re-scores with (the CLI builds it from ``--model``)."""
    from eval.plots import histogram_figure, pr_figure, roc_figure, threshold_figure

    if cfg.probe and probe_scorer is None:
        raise InputError(cfg.out, 0, "--model", "--probe needs the verifier directory")

    gold_recs = list(read_jsonl(cfg.gold, GoldRecord))
    if not gold_recs:
        raise InputError(cfg.gold, 0, "gold", "no gold records: nothing to evaluate against")
    gold = {g.doc_id: g.triples for g in gold_recs}
    langs = {g.doc_id: g.lang for g in gold_recs}
    all_pred = list(read_candidate_rows(cfg.pred))
    pred_rows = [r for r in all_pred if r.doc_id in gold]
    if all_pred and not pred_rows:
        raise InputError(
            cfg.pred, 0, "doc_id", f"none of the {len(all_pred)} rows' documents is in {cfg.gold}: the wrong --gold?"
        )
    out = Path(cfg.out)  # created only once the inputs are known to fit together
    out.mkdir(parents=True, exist_ok=True)

    lang = gold_recs[0].lang if gold_recs else "zh"
    rc = default_relation_classes(cfg.lexicon, lang)  # the same classes calibrate labels with
    after = {m: triple_prf(_by_doc(pred_rows), gold, m, langs, rc)[0] for m in ("strict", "soft")}
    per_rel = {
        m: {k: v.model_dump() for k, v in triple_prf(_by_doc(pred_rows), gold, m, langs, rc)[1].items()}
        for m in ("strict", "soft")
    }
    metrics: dict[str, Any] = {
        "after": {m: v.model_dump() for m, v in after.items()},
        "per_relation_after": per_rel,
        "n_gold_docs": len(gold),
        "n_gold_triples": sum(len(v) for v in gold.values()),
    }
    before = None
    if cfg.candidates:
        cand_rows: list[Any] = []
        for p in cfg.candidates:
            cand_rows += [r for r in read_candidate_rows(p) if r.doc_id in gold]
        cand_rows.sort(key=lambda r: r.doc_id)
        before = {}
        correct_by_mode = {}
        for m in ("strict", "soft"):
            before[m], _, correct_by_mode[m] = triple_prf(_by_doc(cand_rows), gold, m, langs, rc)
        metrics["before"] = {m: v.model_dump() for m, v in before.items()}
        labels = _labels(cand_rows, correct_by_mode[cfg.label_mode])
        scored = [r for r in cand_rows if isinstance(r, ScoredCandidate)]
        if scored:
            lab = np.asarray([lbl for lbl, r in zip(labels, cand_rows, strict=True) if isinstance(r, ScoredCandidate)])
            s_st = np.asarray([r.s_st for r in scored], dtype=float)
            s_tt = np.asarray([np.nan if r.s_tt is None else r.s_tt for r in scored], dtype=float)
            metrics["auc"] = {"text": roc_auc(lab, s_st), "anchor": roc_auc(lab, s_tt)}
            roc_figure(lab, {"text view (S_st)": s_st, "anchor view (S_tt)": s_tt}, out / "roc.png")
            pr_figure(lab, {"text view (S_st)": s_st, "anchor view (S_tt)": s_tt}, out / "pr.png")
            histogram_figure(
                {
                    "anchor-positive": s_tt[lab == 1],
                    "anchor-negative": s_tt[lab == 0],
                    "text-positive": s_st[lab == 1],
                    "text-negative": s_st[lab == 0],
                },
                out / "hist.png",
            )
            thr = Thresholds.load(cfg.model) if cfg.model else None
            taus, p, r, f = tau_curves(s_st, s_tt, lab, thr, int((lab == 1).sum()))
            threshold_figure(taus, p, r, f, thr.tau1 if thr else None, out / "tau_curves.png")
            probs = np.asarray([np.nan if r.p_correct is None else r.p_correct for r in scored], dtype=float)
            if (~np.isnan(probs)).any():
                from eval.plots import reliability_figure
                from verifier.metrics import reliability

                ece_value, bins = reliability(lab, probs)
                metrics["calibration"] = {"ece": ece_value, "bins": bins, "auc_p_correct": roc_auc(lab, probs)}
                reliability_figure(bins, ece_value, out / "reliability.png")
            kinds: dict[str, list[int]] = defaultdict(list)
            for row in scored:
                if row.corruption:
                    kinds[row.corruption].append(int(row.decision == "keep"))
            metrics["hallucination_pass_rate"] = {
                k: {"n": len(v), "kept": sum(v), "rate": sum(v) / len(v)} for k, v in sorted(kinds.items())
            }
            write_jsonl(
                out / "scores.jsonl",
                [
                    {
                        "doc_id": r.doc_id,
                        "role": r.role,
                        "corruption": r.corruption,
                        "label": int(lbl),
                        "s_st": r.s_st,
                        "s_tt": r.s_tt,
                        "p_correct": r.p_correct,
                        "decision": r.decision,
                    }
                    for r, lbl in zip(scored, lab, strict=True)
                ],
            )
        if cfg.probe and probe_scorer is not None:
            for r, lbl in zip(cand_rows, labels, strict=True):
                if r.label is None:
                    r.label = int(lbl)
            metrics["probes"] = probe_aucs(probe_scorer, cand_rows, cfg.probe)
    tables = ["## Before / after filtering (layout of CACRE Table 3)", "", _table3(before, after), ""]
    tables += [
        "## Per relation after filtering (strict)",
        "",
        "| relation | P | R | F1 | gold |",
        "|---|---|---|---|---|",
    ]
    for rel, v in sorted(per_rel["strict"].items(), key=lambda kv: -kv[1]["gold"]):
        tables.append(
            f"| {rel} | {100 * v['precision']:.1f} | {100 * v['recall']:.1f} | {100 * v['f1']:.1f} | {v['gold']} |"
        )
    if "hallucination_pass_rate" in metrics:
        tables += [
            "",
            "## Negatives kept by the filter, per corruption type",
            "",
            "| corruption | n | kept | rate |",
            "|---|---|---|---|",
        ]
        tables += [
            f"| {k} | {v['n']} | {v['kept']} | {100 * v['rate']:.1f}% |"
            for k, v in metrics["hallucination_pass_rate"].items()
        ]
    if "probes" in metrics:
        tables += [
            "",
            "## Shortcut probes (context-or-names)",
            "",
            "| input | text AUC | anchor AUC |",
            "|---|---|---|",
        ]
        fmt = lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"  # noqa: E731
        for k, v in metrics["probes"].items():
            tables.append(f"| {k} | {fmt(v['text_auc'])} | {fmt(v['anchor_auc'])} |")
    (out / "tables.md").write_text("\n".join(tables) + "\n", encoding="utf-8")
    report = EvalReport.model_validate(metrics)
    write_json(out / "metrics.json", report.to_json())
    return report
