"""CACRE: the triple verifier of ../shared/papers/cacre.txt (sections 2.2-2.4).

Pipeline for one (text, triple) pair: E(T), E(R) from the shared encoder (section 2.2) -> bidirectional
cross-attention Ṽ_T, Ṽ_R (Eq. 2-4) -> shared projection network X_T, X_R (Eq. 5-7) -> fused local/global
similarity (Eq. 8-17).

Reading of the text anchor. Cross-attention makes the text representation depend on the triple it attends
to, so X_T is computed per pair: the text view compares X_T^(p) with X_p and X_T^(n_i) with X_n^(i) (the
text anchored on each candidate, like a cross-encoder). This is also exactly what ``filter`` computes for a
single candidate (S_st), so training and inference see the same quantity. The anchor view compares the
anchor triple's X_a with X_p and X_n^(i) (all triple sides of their pairs with the text).

Scores returned for filtering are fused *cosines* (Eq. 16 with tau = 1, in [-1, 1]); the loss uses 1/tau.

Ablations (Table 4): ``cross_attention=False`` (CACRE-att) feeds E(T), E(R) straight to the projection;
``projection=False`` (CACRE-pro) compares the cross-attention outputs directly.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from verifier.data.groups import Group
from verifier.losses import (
    fused_cosine,
    multi_granularity_infonce,
)
from verifier.model.configs import CacreConfig
from verifier.model.cross_attention import BidirectionalCrossAttention
from verifier.model.encoder import TextEncoder
from verifier.model.inputs import Pairs, linearize, maybe_mask
from verifier.model.persistence import SavedModelMixin
from verifier.model.projection import ProjectionNetwork
from verifier.model.scores import GroupScores, score_groups
from verifier.schema import Triple


class PairViews(BaseModel):
    """Projected sequences of a batch of (text, triple) pairs (tensors, not serialised)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    x_t: torch.Tensor  # (P, Lt, D)
    m_t: torch.Tensor  # (P, Lt)
    x_r: torch.Tensor  # (P, Lr, D)
    m_r: torch.Tensor  # (P, Lr)
    w_r: torch.Tensor | None  # (P, Lr, Lt) head-averaged triple->text attention (Eq. 3); None without it


class TripleVerifier(SavedModelMixin, nn.Module):
    config_class = CacreConfig

    def __init__(self, config: CacreConfig, encoder: TextEncoder) -> None:
        super().__init__()
        self._bind(config, encoder)
        h = encoder.hidden_size
        self.cross = (
            BidirectionalCrossAttention(h, config.n_heads, 0.0, config.aggregation) if config.cross_attention else None
        )
        self.proj = (
            ProjectionNetwork(h, config.projection_dim, config.conv_kernel, config.dropout, config.residual_init)
            if config.projection
            else None
        )
        self._rng = random.Random(0)

    # ------------------------------------------------------------------ encoding

    def _tok(self, strings: list[str], max_length: int, offsets: bool = False) -> dict[str, torch.Tensor]:
        pad_to = self.config.max_text_length if self.config.aggregation == "same" else None
        batch = self.encoder.tokenizer(  # type: ignore[operator]
            strings,
            padding="max_length" if pad_to else True,
            truncation=True,
            max_length=pad_to or max_length,
            return_tensors="pt",
            return_offsets_mapping=offsets,
        )
        return batch

    def encode(self, strings: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """strings -> token states (B, L, H) and mask (B, L)."""
        batch = self._tok(strings, max_length)
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return self.encoder(**batch), batch["attention_mask"].bool()

    @torch.no_grad()
    def prefill_states(self, groups: list[Group], batch_size: int = 128, progress: bool = False) -> int:
        """Fill the encoder's state cache with every text and triple of ``groups`` (no-op without a cache).

        Sequences are encoded once, sorted by length, in batches of ``batch_size``: far less padding than the
        training batches, whose texts and triples come in random lengths. Returns the number of strings sent."""
        if not self.encoder.state_cache_enabled:
            return 0
        cfg = self.config
        texts = {g.text for g in groups}
        triples = {self.linearize(t, g.lang) for g in groups for t in (g.anchor, g.positive, *g.negatives)}
        jobs = [(s, cfg.max_text_length) for s in texts] + [(s, cfg.max_triple_length) for s in triples]
        jobs.sort(key=lambda j: (j[1], len(j[0])))  # similar lengths share a batch
        from tqdm.auto import tqdm

        with tqdm(total=len(jobs), desc="encode (state cache)", unit="seq", disable=not progress) as bar:
            for i in range(0, len(jobs), batch_size):
                chunk = jobs[i : i + batch_size]
                for max_len in sorted({m for _, m in chunk}):
                    self.encode([s for s, m in chunk if m == max_len], max_len)
                bar.update(len(chunk))
        return len(jobs)

    def linearize(self, t: Triple, lang: str) -> str:
        return linearize(t, self.config.linearization, lang)

    def pair_views(
        self,
        e_t: torch.Tensor,
        m_t: torch.Tensor,
        e_r: torch.Tensor,
        m_r: torch.Tensor,
        t_idx: torch.Tensor,
        r_idx: torch.Tensor,
        text_rows: int | torch.Tensor | None = None,
    ) -> PairViews:
        """Cross-attend and project P pairs (text t_idx[p], triple r_idx[p]).

        ``text_rows``: project the text side of these pairs only (a count: the first ones; a tensor: those
        indices); pairs used for their triple side alone (the views behind S_tt) skip the costly text
        projection. x_t then has one row per selected pair."""
        mt = m_t[t_idx]  # (P, Lt)
        er, mr = e_r[r_idx], m_r[r_idx]  # (P, Lr, H), (P, Lr)
        w_r = None
        if self.cross is not None:  # each distinct text is projected once inside (t_idx gathers per pair)
            et, er, _, w_r = self.cross(e_t, m_t, er, mr, t_idx)
        else:
            et = e_t[t_idx]  # (P, Lt, H)
        if isinstance(text_rows, torch.Tensor):
            et, mt = et[text_rows], mt[text_rows]
        elif text_rows is not None:
            et, mt = et[:text_rows], mt[:text_rows]
        if self.proj is not None:
            et, er = self.proj(et, mt), self.proj(er, mr)  # (k, Lt, D), (P, Lr, D)
        return PairViews(x_t=et, m_t=mt, x_r=er, m_r=mr, w_r=w_r)

    # ------------------------------------------------------------------ training

    def forward(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a batch of groups (``forward`` so that DDP can wrap the model)."""
        return self.group_loss(groups, n_negatives)

    def group_loss(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Multi-granularity InfoNCE (Eq. 8-20) over a batch of groups, text view + anchor view."""
        cfg = self.config
        texts = [
            maybe_mask(
                g.text, g.anchor, cfg.entity_mask_prob if self.training else 0.0, self.encoder.mask_token, self._rng
            )
            for g in groups
        ]
        negs = [g.negatives[:n_negatives] if n_negatives else g.negatives for g in groups]
        n_max = max(len(n) for n in negs)
        strings, t_idx, slots = [], [], []  # slots[p] = (group, j); j = 0 anchor, 1 positive, 2.. negatives
        for gi, g in enumerate(groups):  # t_idx stays sorted: the gathers' backward accumulates deterministically
            for j, t in enumerate([g.anchor, g.positive, *negs[gi]]):
                slots.append((gi, j))
                strings.append(self.linearize(t, g.lang))
                t_idx.append(gi)
        both = cfg.text_positives == "anchor_and_positive"
        dev = self.device
        # with the positive alone, the anchor pairs serve the anchor view only: their text side is not projected
        rows = None if both else torch.tensor([p for p, (_, j) in enumerate(slots) if j != 0], device=dev)
        e_t, m_t = self.encode(texts, cfg.max_text_length)
        e_r, m_r = self.encode(strings, cfg.max_triple_length)
        pv = self.pair_views(
            e_t, m_t, e_r, m_r, torch.tensor(t_idx, device=dev), torch.arange(len(strings), device=dev), rows
        )
        b, slots_n = len(groups), 2 + n_max
        d = pv.x_r.shape[-1]
        xr = pv.x_r.new_zeros(b, slots_n, pv.x_r.shape[1], d)  # (B, 2+N, Lr, D)
        mr = torch.zeros(b, slots_n, pv.x_r.shape[1], dtype=torch.bool, device=dev)
        xt = pv.x_t.new_zeros(b, slots_n, pv.x_t.shape[1], d)  # (B, 2+N, Lt, D)
        mt = torch.zeros(b, slots_n, pv.x_t.shape[1], dtype=torch.bool, device=dev)
        gi_t = torch.tensor([s[0] for s in slots], device=dev)
        j_t = torch.tensor([s[1] for s in slots], device=dev)
        xr[gi_t, j_t], mr[gi_t, j_t] = pv.x_r, pv.m_r
        gi_x, j_x = (gi_t, j_t) if rows is None else (gi_t[rows], j_t[rows])
        xt[gi_x, j_x], mt[gi_x, j_x] = pv.x_t, pv.m_t  # slot 0 empty unless both
        neg_mask = torch.zeros(b, n_max, dtype=torch.bool, device=dev)
        for gi, n in enumerate(negs):
            neg_mask[gi, : len(n)] = True
        kw = dict(params=cfg, local_mode=cfg.local_mode, local_mask=cfg.local_mask)
        # text view: X_T of each pair (slots 1..) against the positive and the negatives
        l_text = multi_granularity_infonce(
            xt[:, 1:], mt[:, 1:], xr[:, 1], mr[:, 1], xr[:, 2:], mr[:, 2:], neg_mask, **kw
        ).mean()
        info = {"loss_text": l_text.item()}
        if both:  # and with the anchor (schema form) as the positive: X_T of slots 0, 2..
            keep = [0, *range(2, slots_n)]
            l_gold = multi_granularity_infonce(
                xt[:, keep], mt[:, keep], xr[:, 0], mr[:, 0], xr[:, 2:], mr[:, 2:], neg_mask, **kw
            ).mean()
            info["loss_text_gold"] = l_gold.item()
            l_text = (l_text + l_gold) / 2
        # anchor view: the anchor triple X_a against the positive and the negatives
        l_anchor = multi_granularity_infonce(
            xr[:, 0], mr[:, 0], xr[:, 1], mr[:, 1], xr[:, 2:], mr[:, 2:], neg_mask, **kw
        ).mean()
        loss = cfg.text_weight * l_text + cfg.anchor_weight * l_anchor
        return loss, {**info, "loss_anchor": l_anchor.item()}

    # ------------------------------------------------------------------ scoring

    def fused_cosine(self, xa: torch.Tensor, ma: torch.Tensor, xb: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        """``losses.fused_cosine`` with this model's w and local similarity. -> (P,)"""
        c = self.config
        return fused_cosine(xa, ma, xb, mb, c.w, c.local_mode, c.local_mask)

    @torch.no_grad()
    def score_pairs(
        self, pairs: Pairs, with_attention: bool = False
    ) -> tuple[np.ndarray, np.ndarray, PairViews | None]:
        """S_st (text-triple) and S_tt (triple-view) fused cosines for candidates; each distinct text is
        encoded once. ``pairs.views[i]`` is the positive view of candidate i (None: S_tt is NaN)."""
        texts, triples, langs, views = pairs.texts, pairs.triples, pairs.langs, pairs.views
        uniq = list(dict.fromkeys(texts))
        t_pos = {t: i for i, t in enumerate(uniq)}
        e_t, m_t = self.encode(uniq, self.config.text_window(self.training))
        strings = [self.linearize(t, lang) for t, lang in zip(triples, langs, strict=True)]
        view_rows = pairs.view_rows()
        strings += [self.linearize(views[i], langs[i]) for i in view_rows]  # type: ignore[index,arg-type]
        e_r, m_r = self.encode(strings, self.config.max_triple_length)
        n = len(triples)
        dev = self.device
        t_idx = torch.tensor([t_pos[t] for t in texts] + [t_pos[texts[i]] for i in view_rows], device=dev)
        pv = self.pair_views(e_t, m_t, e_r, m_r, t_idx, torch.arange(len(strings), device=dev), text_rows=n)
        s_st = self.fused_cosine(pv.x_t, pv.m_t, pv.x_r[:n], pv.m_r[:n]).float().cpu().numpy()
        s_tt = np.full(n, np.nan, dtype=np.float32)
        if view_rows:
            idx = torch.tensor(view_rows, device=dev)
            s = self.fused_cosine(pv.x_r[idx], pv.m_r[idx], pv.x_r[n:], pv.m_r[n:])
            s_tt[view_rows] = s.float().cpu().numpy()
        return s_st, s_tt, (pv if with_attention else None)

    @torch.no_grad()
    def group_scores(self, groups: list[Group], batch_size: int = 16) -> GroupScores:
        return score_groups(self, groups, batch_size)


def attention_evidence(
    w_r: torch.Tensor, m_t: torch.Tensor, m_r: torch.Tensor, offsets: list[tuple[int, int]], width: int = 3
) -> tuple[int, int] | None:
    """Character span of the text window (``width`` tokens) that the triple's tokens attend to most.

    w_r (Lr, Lt) head-averaged triple->text weights of one pair (Eq. 3); the attention a text token receives
    is its column sum over the real triple tokens. ``offsets`` are the text tokens' character spans."""
    recv = (w_r[m_r].sum(0) * m_t).float()  # (Lt,)
    real = [i for i, (s, e) in enumerate(offsets) if e > s and bool(m_t[i])]
    if not real:
        return None
    scores = recv[real]
    width = min(width, len(real))
    window = torch.nn.functional.avg_pool1d(scores.view(1, 1, -1), width, 1).view(-1) if width > 1 else scores
    start = int(window.argmax())
    return offsets[real[start]][0], offsets[real[start + width - 1]][1]


def num_parameters(model: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


__all__ = ["CacreConfig", "GroupScores", "TripleVerifier", "attention_evidence", "num_parameters", "score_groups"]
