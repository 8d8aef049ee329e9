"""The decision as ``verifier calibrate --decision`` and the demo fit it: the calibration candidates as the filter
will see them (repaired, turned around where the verifier prefers the reverse, duplicates dropped), labelled against
gold by eval's matching, scored, and the logistic regression of ``eval.calibrate`` fitted on their grounding
features. Floor 3 with the CLI: it joins the verifier stage's scoring and eval's fitting, which do not import each
other."""

from __future__ import annotations

from typing import Any


def label_rows(rows: list[Any], gold: dict[str, Any], label_mode: str, lexicon: str | None) -> list[Any]:
    """``rows`` labelled against ``gold`` (doc_id -> GoldRecord) by eval's ``label_mode`` matching (a row's own
    label is replaced)."""
    from verifier.align import default_relation_classes
    from verifier.metrics import label_candidates

    lang = rows[0].lang if rows else "zh"
    rows = [r.model_copy(update={"label": None}) for r in rows]
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


def oriented_labelled_rows(
    model: Any,
    rows: list[Any],
    originals: list[Any],
    s_st: Any,
    margin: float,
    gold: dict[str, Any],
    label_mode: str,
    lexicon: str | None,
) -> tuple[list[Any], list[Any], Any]:
    """The repaired rows as the filter then sees them with ``--orient``: turned around where the verifier prefers
    the reverse, duplicates dropped (the filter rejects them), labelled again against ``gold``; with their
    originals and S_st."""
    import numpy as np

    from verifier.filter import ScoredChunk, Scorer, default_lexicons, duplicate_rows, orient_chunk

    n = len(rows)
    sc = ScoredChunk(list(rows), list(originals), np.asarray(s_st, dtype=float).copy(), np.full(n, np.nan), [None] * n)
    orient_chunk(Scorer(model, "", evidence=False), sc, margin, default_lexicons(lexicon))
    keep = ~duplicate_rows(sc.rows, sc.s_st)
    rows = label_rows([r for r, k in zip(sc.rows, keep, strict=True) if k], gold, label_mode, lexicon)
    right = sum(int(r.label or 0) for r in rows)
    if right in (0, len(rows)):
        from verifier.config import ConfigError

        raise ConfigError(
            f"{right} of {len(rows)} candidates are right after turning them around (margin {margin:g}); calibration "
            "needs right and wrong ones: rerun with --no-orient or a larger --orient-margin (nothing was written)"
        )
    return rows, [o for o, k in zip(sc.originals, keep, strict=True) if k], sc.s_st[keep]


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
    orient_margin: float | None = None,
) -> Any:
    """Score labelled rows, build their grounding features and fit ``decision.json``'s model (not saved). With
    ``gold``, tau's recall counts every gold triple of the rows' documents, as ``verifier eval`` does, and with
    ``orient_margin`` too, the rows are first turned around as ``verifier filter --orient`` does
    (:func:`oriented_labelled_rows`) and the decision records the margin."""
    import numpy as np

    from eval.calibrate import fit_decision
    from verifier.filter import decision_features, default_lexicons, score_rows
    from verifier.metrics import gold_positives

    if s_st is None:
        s_st, _ = score_rows(model, rows, lexicon=lexicon)
    if orient_margin is not None and gold is not None:
        rows, originals, s_st = oriented_labelled_rows(
            model, rows, originals, s_st, orient_margin, gold, label_mode, lexicon
        )
    else:
        orient_margin = None
    x = decision_features(rows, s_st, originals, default_lexicons(lexicon), model)
    labels = np.asarray([r.label for r in rows])
    positives, by_relation = gold_positives(rows, gold) if gold is not None else (None, None)
    dec = fit_decision(
        x, labels, objective, label_mode, source, relations=[r.triple.relation for r in rows],
        min_relation_rows=min_relation_rows, positives=positives, relation_positives=by_relation,
        groups=[r.doc_id for r in rows],
    )  # fmt: skip
    return dec.model_copy(update={"orient_margin": orient_margin})
