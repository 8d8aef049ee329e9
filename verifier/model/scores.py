"""What a verifier's scores on labelled groups are (:class:`GroupScores`, for ROC/AUC and the histograms of
Figures 2-3) and how any verifier computes them (:func:`score_groups`, through ``Verifier.score_pairs``): one
implementation for CACRE, late fusion and the BCE cross-encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from verifier.data.groups import Group
from verifier.model.inputs import Pairs


class GroupScores(BaseModel):
    """S_st and S_tt of labelled groups. A verifier without a triple view (S_tt NaN for every pair, the BCE
    cross-encoder) leaves the S_tt lists empty."""

    model_config = ConfigDict(extra="forbid")

    text_pos: list[float] = []
    text_neg: list[float] = []
    text_gold: list[float] = []
    """S_st of each group's anchor: the gold triple in schema form, as a correct candidate reaches the filter."""
    tt_gold: list[float] = []
    """S_tt of each group's anchor against its positive (the filter's group view for an anchor row)."""
    anchor_pos: list[float] = []
    anchor_neg: list[float] = []
    neg_corruptions: list[str | None] = []


def group_pairs(groups: list[Group]) -> Pairs:
    """Every (text, triple) of ``groups`` in order anchor, positive, negatives; each triple's view is the group's
    anchor, the anchor's is the positive (the anchor view of Figure 2)."""
    texts, triples, langs, views = [], [], [], []
    for g in groups:
        for t in [g.anchor, g.positive, *g.negatives]:
            texts.append(g.text)
            triples.append(t)
            langs.append(g.lang)
            views.append(g.positive if t is g.anchor else g.anchor)
    return Pairs(texts=texts, triples=triples, langs=langs, views=views)


def score_groups(model: Any, groups: list[Group], batch_size: int = 16) -> GroupScores:
    """S_st and S_tt of every pair of ``groups`` through ``model.score_pairs``, ``batch_size`` groups at a time."""
    out = GroupScores()
    for i in range(0, len(groups), batch_size):
        chunk = groups[i : i + batch_size]
        s_st, s_tt, _ = model.score_pairs(group_pairs(chunk))  # (P,), (P,)
        has_view = not np.isnan(s_tt).all()
        k = 0
        for g in chunk:
            out.text_gold.append(float(s_st[k]))
            out.text_pos.append(float(s_st[k + 1]))
            if has_view:
                out.tt_gold.append(float(s_tt[k]))
                out.anchor_pos.append(float(s_tt[k + 1]))
            k += 2
            for kind in g.corruptions:
                out.text_neg.append(float(s_st[k]))
                if has_view:
                    out.anchor_neg.append(float(s_tt[k]))
                out.neg_corruptions.append(kind)
                k += 1
    return out
