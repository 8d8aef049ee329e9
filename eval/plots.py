"""Evaluation figures with matplotlib's object-oriented API on the Agg canvas (no global pyplot state):
ROC for the text and anchor views (CACRE Figure 2), precision-recall, similarity histograms (Figure 3), and
P/R/F1 against the threshold."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _save(fig: Figure, path: str | os.PathLike[str]) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)


def _clean(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = ~np.isnan(scores)
    return labels[ok], scores[ok]


def _scored_views(labels: np.ndarray, views: dict[str, np.ndarray]) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, labels, scores) of each view with both classes, rows without a score left out."""
    for name, scores in views.items():
        y, s = _clean(np.asarray(labels), np.asarray(scores, dtype=float))
        if len(set(y.tolist())) == 2:
            yield name, y, s


def _roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr, f"AUC {roc_auc_score(y, s):.3f}"


def _pr(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    p, r, _ = precision_recall_curve(y, s)
    return r, p, f"AP {average_precision_score(y, s):.3f}"


def _curve_figure(
    labels: np.ndarray,
    views: dict[str, np.ndarray],
    path: str | os.PathLike[str],
    curve: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, str]],
    title: str,
    axes: tuple[str, str],
    legend: str,
    chance_diagonal: bool = False,
) -> Path:
    """One curve per scored view (``curve`` gives x, y and the legend's figure), in the unit square."""
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    for name, y, s in _scored_views(labels, views):
        xs, ys, figure = curve(y, s)
        ax.plot(xs, ys, label=f"{name} ({figure})")
    if chance_diagonal:
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel=axes[0], ylabel=axes[1], title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc=legend)
    return _save(fig, path)


def roc_figure(labels: np.ndarray, views: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    return _curve_figure(labels, views, path, _roc, "ROC", ("False positive rate", "True positive rate"),
                         "lower right", chance_diagonal=True)  # fmt: skip


def pr_figure(labels: np.ndarray, views: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    return _curve_figure(labels, views, path, _pr, "Precision-recall", ("Recall", "Precision"), "lower left")


def histogram_figure(series: dict[str, np.ndarray], path: str | os.PathLike[str]) -> Path:
    """One panel per series (anchor-positive, anchor-negative, text-positive, text-negative)."""
    names = list(series)
    fig = Figure(figsize=(4 * len(names), 3.2))
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        s = np.asarray(series[name], dtype=float)
        s = s[~np.isnan(s)]
        ax.hist(s, bins=30, range=(-1, 1), color="tab:blue" if "positive" in name else "tab:red")
        ax.set(title=f"{name} (n={len(s)})", xlabel="Cosine similarity", ylabel="Frequency")
    return _save(fig, path)


def threshold_figure(
    taus: np.ndarray,
    p: np.ndarray,
    r: np.ndarray,
    f: np.ndarray,
    chosen: float | None,
    path: str | os.PathLike[str],
    xlabel: str = "tau1",
) -> Path:
    fig = Figure(figsize=(5.5, 4))
    ax = fig.add_subplot()
    ax.plot(taus, p, label="precision")
    ax.plot(taus, r, label="recall")
    ax.plot(taus, f, label="F1")
    if chosen is not None:
        ax.axvline(chosen, color="grey", linestyle="--", linewidth=0.8, label=f"chosen {chosen:.3f}")
    ax.set(xlabel=xlabel, ylabel="score", title=f"P/R/F1 against {xlabel}", ylim=(0, 1.01))
    ax.legend()
    return _save(fig, path)


def reliability_figure(bins: list[dict[str, float]], ece: float, path: str | os.PathLike[str]) -> Path:
    """Observed rate of correct candidates against the mean predicted p_correct per bin (the diagonal is perfect
    calibration); marker area follows the bin's count."""
    fig = Figure(figsize=(5, 4.5))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    if bins:
        n = np.asarray([b["n"] for b in bins], dtype=float)
        ax.plot([b["mean_p"] for b in bins], [b["rate"] for b in bins], marker="o", linewidth=1)
        ax.scatter([b["mean_p"] for b in bins], [b["rate"] for b in bins], s=20 + 200 * n / n.max(), alpha=0.4)
    ax.set(
        xlabel="mean predicted p_correct",
        ylabel="observed share correct",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"Reliability (ECE {ece:.3f})",
    )
    return _save(fig, path)
