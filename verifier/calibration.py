"""The decision as ``verifier calibrate --decision`` and the demo fit it: the calibration candidates as the filter
will see them (repaired, turned around where the verifier prefers the reverse, duplicates dropped), labelled against
gold by eval's matching, scored, and the logistic regression of ``eval.calibrate`` fitted on their grounding
features. Floor 3 with the CLI: it joins the verifier stage's scoring and eval's fitting, which do not import each
other."""

from __future__ import annotations

import math
from typing import Any


def label_rows(rows: list[Any], gold: dict[str, Any], label_mode: str, lexicon: str | None) -> list[Any]:
    """``rows`` labelled against ``gold`` (doc_id -> GoldRecord) by eval's ``label_mode`` matching; a row that
    carries its own label keeps it (a row the verifier turned around carries none)."""
    from verifier.align import default_relation_classes
    from verifier.metrics import label_candidates

    lang = rows[0].lang if rows else "zh"
    labels = label_candidates(rows, gold, label_mode, default_relation_classes(lexicon, lang))
    return [r.model_copy(update={"label": y}) for r, y in zip(rows, labels, strict=True)]


def repaired_labelled_rows(
    rows: list[Any], gold: dict[str, Any] | None, label_mode: str, lexicon: str | None
) -> tuple[list[Any], list[Any]]:
    """The rows as filter scores them (extracted rows repaired) and, with ``gold`` (doc_id -> GoldRecord), labelled
    by eval's ``label_mode`` matching; with the originals that repair replaced (for the ``repaired`` feature)."""
    from verifier.filter import default_lexicons, repair_rows

    rows, originals = repair_rows(rows, default_lexicons(lexicon))
    if gold is not None:
        rows = label_rows(rows, gold, label_mode, lexicon)
    return rows, originals


MARGINS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
"""Orientation margins ``--orient-margin auto`` tries (besides not turning anything around)."""


def oriented_labelled_rows(
    rows: list[Any],
    originals: list[Any],
    s_st: Any,
    rev: Any,
    margin: float,
    gold: dict[str, Any],
    label_mode: str,
    lexicon: str | None,
) -> tuple[list[Any], list[Any], Any]:
    """The repaired rows as the filter then sees them with ``--orient``: turned around where the verifier prefers
    the reverse by ``margin`` (``rev``: ``verifier.filter.score_reversed`` of these rows), duplicates dropped (the
    filter rejects them), labelled again against ``gold``; with their originals and S_st."""
    import numpy as np

    from verifier.filter import ScoredChunk, apply_orientation, duplicate_rows
    from verifier.schema import Evidence

    n = len(rows)
    s = np.asarray(s_st, dtype=float).copy()  # (N,)
    sc = ScoredChunk(list(rows), list(originals), s, np.full(n, np.nan), [Evidence()] * n)
    apply_orientation(sc, rev, margin)
    keep = ~duplicate_rows(sc.rows, sc.s_st)
    rows = label_rows([r for r, k in zip(sc.rows, keep, strict=True) if k], gold, label_mode, lexicon)
    return rows, [o for o, k in zip(sc.originals, keep, strict=True) if k], sc.s_st[keep]


def _fit(
    model: Any,
    rows: list[Any],
    originals: list[Any],
    s_st: Any,
    lexicon: str | None,
    objective: str,
    label_mode: str,
    source: str,
    min_relation_rows: int | None,
    gold: dict[str, Any] | None,
) -> Any:
    """The logistic regression and its tau on these (labelled, scored) rows."""
    import numpy as np

    from eval.calibrate import fit_decision
    from verifier.filter import decision_features, default_lexicons
    from verifier.metrics import gold_positives

    x = decision_features(rows, s_st, originals, default_lexicons(lexicon), model)
    labels = np.asarray([r.label for r in rows])
    positives, by_relation = gold_positives(rows, gold) if gold is not None else (None, None)
    return fit_decision(
        x, labels, objective, label_mode, source, relations=[r.triple.relation for r in rows],
        min_relation_rows=min_relation_rows, positives=positives, relation_positives=by_relation,
        groups=[r.doc_id for r in rows],
    )  # fmt: skip


def fit_model_decision(
    model: Any,
    rows: list[Any],
    originals: list[Any],
    lexicon: str | None,
    objective: str,
    label_mode: str,
    source: str,
    min_relation_rows: int | None = None,
    s_st: Any = None,
    gold: dict[str, Any] | None = None,
    orient_margin: float | str | None = None,
) -> Any:
    """Score labelled rows, build their grounding features and fit ``decision.json``'s model (not saved). With
    ``gold``, tau's recall counts every gold triple of the rows' documents, as ``verifier eval`` does, and an
    ``orient_margin`` turns the rows around first as ``verifier filter --orient`` will (:func:`oriented_labelled_rows`);
    ``"auto"`` fits a decision for no turning and for every margin of :data:`MARGINS` and keeps the one whose
    calibration F1 is highest (ties: the larger margin, not turning counting as the largest). The decision records the
    margin (None: not turned around) and, with ``auto``, every margin's F1."""
    from verifier.config import ConfigError
    from verifier.filter import Scorer, default_lexicons, score_reversed, score_rows

    if s_st is None:
        s_st, _ = score_rows(model, rows, view_source=None, lexicon=lexicon)
    args = (lexicon, objective, label_mode, source, min_relation_rows, gold)
    if orient_margin is None or gold is None:
        return _fit(model, rows, originals, s_st, *args).model_copy(update={"orient_margin": None})
    rev = score_reversed(Scorer(model, "", evidence=False), rows, default_lexicons(lexicon), view_source=None)
    margins = list(MARGINS) if orient_margin == "auto" else [float(orient_margin)]
    fits: dict[str, tuple[float | None, Any]] = {}
    if orient_margin == "auto":
        fits["off"] = (None, _fit(model, rows, originals, s_st, *args))
    for m in margins:
        o_rows, o_orig, o_s = oriented_labelled_rows(rows, originals, s_st, rev, m, gold, label_mode, lexicon)
        right = sum(int(r.label or 0) for r in o_rows)
        if right in (0, len(o_rows)):
            if orient_margin == "auto":
                continue
            raise ConfigError(
                f"{right} of {len(o_rows)} candidates are right after turning them around (margin {m:g}); "
                "calibration needs right and wrong ones: rerun with --no-orient or a larger --orient-margin "
                "(nothing was written)"
            )
        fits[f"{m:g}"] = (m, _fit(model, o_rows, o_orig, o_s, *args))
    f1 = {k: round(float(d.thresholds.f1), 4) for k, (_, d) in fits.items()}
    best = max(fits, key=lambda k: (f1[k], math.inf if fits[k][0] is None else fits[k][0]))
    margin, dec = fits[best]
    return dec.model_copy(update={"orient_margin": margin, "orient_f1": f1 if orient_margin == "auto" else {}})
