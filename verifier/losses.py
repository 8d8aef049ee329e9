"""Multi-granularity InfoNCE with ratio-based hard negatives and a dynamic margin (CACRE Eq. 8-20).

Inputs are projected token sequences ``X`` of shape (B, L, P) with boolean masks (B, L):
an anchor view ``X_a`` (the text X_T, or the anchor triple), one positive ``X_p`` and ``N`` negatives
``X_n`` (B, N, L, P) with a negative mask (B, N) for groups that have fewer negatives.

- Local similarity (Eq. 8-11): ``cos(X_a[j], X_b[j]) / tau`` per position j, averaged over the positions.
  Sequences of different lengths are aligned by position after right-padding to a common length; by
  default the average runs over positions real in both sequences (``local_mask="both"``; ``"anchor"``
  averages over the anchor's positions, padding counting as cosine 0). ``local_mode="maxsim"`` is the
  alignment-free alternative (each anchor position takes its best-matching position of the other sequence),
  for readers who take "local" to mean token alignment rather than equal positions. ``local_mode="align"``
  runs the other way: each position of the *second* sequence (the triple) takes its best-matching position of
  the first (the text), averaged over the second's real positions -- every triple token must be found in the
  text, while most text tokens have nothing to match in a short triple (the late-fusion default).
- Global similarity (Eq. 12-15): cosine of the masked mean-pooled sequences, divided by tau.
- Fused (Eq. 16-17): ``S = w * local + (1 - w) * global``.
- Hard negatives (Eq. 18): the ``K = ceil(top_k * N_neg)`` highest ``S^-`` of each group.
- Dynamic margin (Eq. 19): ``m = base_margin + beta * (S^+_global - mean_i S^-_global(i))``. beta is not
  given in the paper; we use 0.05 so that m stays within about [0.08, 1.5] given |S_global| <= 1/tau (14.3
  at tau = 0.07). The margin is detached by default (a difficulty schedule, not a quantity to optimise).
- Loss (Eq. 20): ``-log( exp(S^+) / (exp(S^+) + sum_k exp(S^-_hard(k) - m)) )``.

The maths are pure functions tested on hand-computed tensors; :class:`MultiGranularityInfoNCE` is a thin
module holding the hyperparameters (``InfoNceParams``: Table 2 defaults, declared once there).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from verifier.model.configs import InfoNceParams, LocalMask, LocalMode


def _pad_to(x: torch.Tensor, m: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    extra = length - x.shape[-2]
    if extra <= 0:
        return x, m
    return F.pad(x, (0, 0, 0, extra)), F.pad(m, (0, extra), value=False)


def local_similarity(
    xa: torch.Tensor,
    ma: torch.Tensor,
    xb: torch.Tensor,
    mb: torch.Tensor,
    tau: float,
    mode: LocalMode = "position",
    mask: LocalMask = "both",
) -> torch.Tensor:
    """Eq. 8-11. xa (..., La, P), ma (..., La); xb (..., Lb, P), mb (..., Lb) -> (...,)."""
    ma, mb = ma.bool(), mb.bool()
    if mode == "align":
        sim = F.normalize(xa, dim=-1) @ F.normalize(xb, dim=-1).transpose(-1, -2)  # (..., La, Lb)
        sim = sim.masked_fill(~ma.unsqueeze(-1), float("-inf")).amax(-2)  # (..., Lb)
        sim = sim.masked_fill(~mb, 0.0)
        return sim.sum(-1) / mb.sum(-1).clamp(min=1) / tau
    if mode == "maxsim":
        sim = F.normalize(xa, dim=-1) @ F.normalize(xb, dim=-1).transpose(-1, -2)  # (..., La, Lb)
        sim = sim.masked_fill(~mb.unsqueeze(-2), float("-inf")).amax(-1)  # (..., La)
        sim = sim.masked_fill(~ma, 0.0)
        return sim.sum(-1) / ma.sum(-1).clamp(min=1) / tau
    length = max(xa.shape[-2], xb.shape[-2])
    xa, ma = _pad_to(xa, ma, length)
    xb, mb = _pad_to(xb, mb, length)
    cos = F.cosine_similarity(xa, xb, dim=-1, eps=1e-8)  # (..., L)
    valid = (ma & mb) if mask == "both" else ma
    cos = cos.masked_fill(~valid, 0.0)
    return cos.sum(-1) / valid.sum(-1).clamp(min=1) / tau


def mean_pool(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Masked mean over the sequence (Eq. 12-13). x (..., L, P), m (..., L) -> (..., P)."""
    mf = m.to(x.dtype).unsqueeze(-1)
    return (x * mf).sum(-2) / mf.sum(-2).clamp(min=1.0)


def global_similarity(
    xa: torch.Tensor, ma: torch.Tensor, xb: torch.Tensor, mb: torch.Tensor, tau: float
) -> torch.Tensor:
    """Eq. 14-15: cos(mean_pool(xa), mean_pool(xb)) / tau -> (...,)."""
    return F.cosine_similarity(mean_pool(xa, ma), mean_pool(xb, mb), dim=-1, eps=1e-8) / tau


def fuse(local: torch.Tensor, glob: torch.Tensor, w: float) -> torch.Tensor:
    """Eq. 16-17."""
    return w * local + (1.0 - w) * glob


def fused_cosine(
    xa: torch.Tensor,
    ma: torch.Tensor,
    xb: torch.Tensor,
    mb: torch.Tensor,
    w: float,
    mode: LocalMode = "position",
    mask: LocalMask = "both",
) -> torch.Tensor:
    """Eq. 16 with tau = 1, the score the filter reads: w * local + (1 - w) * global cosine, in [-1, 1]. -> (...,)"""
    return fuse(local_similarity(xa, ma, xb, mb, 1.0, mode, mask), global_similarity(xa, ma, xb, mb, 1.0), w)


def hard_negative_mask(s_neg: torch.Tensor, neg_mask: torch.Tensor, top_k: float) -> torch.Tensor:
    """Eq. 18: per row, True for the K = ceil(top_k * N_valid) highest valid negatives. (B, N) -> (B, N)."""
    n_valid = neg_mask.sum(-1)  # (B,)
    k = torch.ceil(top_k * n_valid.to(torch.float64) - 1e-9).long().clamp(min=1)  # (B,); -1e-9 guards 0.8*5=4.0000001
    k = torch.minimum(k, n_valid)
    scores = s_neg.masked_fill(~neg_mask, float("-inf"))
    order = scores.argsort(dim=-1, descending=True)  # (B, N)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(order.shape[-1], device=order.device).expand_as(order))
    return (rank < k.unsqueeze(-1)) & neg_mask


def dynamic_margin(
    g_pos: torch.Tensor, g_neg: torch.Tensor, neg_mask: torch.Tensor, base_margin: float, beta: float
) -> torch.Tensor:
    """Eq. 19: m = base_margin + beta * (S+_global - mean over valid negatives of S-_global). -> (B,)"""
    mean_neg = (g_neg * neg_mask).sum(-1) / neg_mask.sum(-1).clamp(min=1)
    return base_margin + beta * (g_pos - mean_neg)


def infonce_from_scores(
    l_pos: torch.Tensor,
    l_neg: torch.Tensor,
    g_pos: torch.Tensor,
    g_neg: torch.Tensor,
    neg_mask: torch.Tensor,
    w: float,
    top_k: float,
    base_margin: float,
    beta: float,
    detach_margin: bool = True,
) -> torch.Tensor:
    """Eq. 16-20 from local (l_*) and global (g_*) similarities. pos (B,), neg (B, N) -> loss (B,)."""
    neg_mask = neg_mask.bool()
    s_pos = fuse(l_pos, g_pos, w)  # (B,)
    s_neg = fuse(l_neg, g_neg, w)  # (B, N)
    hard = hard_negative_mask(s_neg.detach(), neg_mask, top_k)  # (B, N)
    m = dynamic_margin(g_pos, g_neg, neg_mask, base_margin, beta)  # (B,)
    if detach_margin:
        m = m.detach()
    neg_logits = (s_neg - m.unsqueeze(-1)).masked_fill(~hard, float("-inf"))  # (B, N)
    logits = torch.cat([s_pos.unsqueeze(-1), neg_logits], dim=-1)  # (B, 1 + N)
    return -torch.log_softmax(logits, dim=-1)[:, 0]


def multi_granularity_infonce(
    xa: torch.Tensor,
    ma: torch.Tensor,
    xp: torch.Tensor,
    mp: torch.Tensor,
    xn: torch.Tensor,
    mn: torch.Tensor,
    neg_mask: torch.Tensor,
    params: InfoNceParams,
    local_mode: LocalMode = "position",
    local_mask: LocalMask = "both",
    detach_margin: bool = True,
) -> torch.Tensor:
    """The full loss for one anchor view; ``params`` holds tau, w, top_k, base_margin and beta (a model config
    is one: every CACRE-family config inherits :class:`InfoNceParams`).

    xa (B, La, P) or (B, N+1, La, P) when the anchor differs per comparison (the text view, whose X_T comes
    from the text's cross-attention with each triple): index 0 pairs with the positive, 1..N with negatives.
    xp (B, Lp, P); xn (B, N, Ln, P); masks alike; neg_mask (B, N). Returns the per-group loss (B,).
    """
    if xa.dim() == 4:
        xa_p, ma_p, xa_n, ma_n = xa[:, 0], ma[:, 0], xa[:, 1:], ma[:, 1:]
    else:
        xa_p, ma_p = xa, ma
        xa_n, ma_n = xa.unsqueeze(1).expand(-1, xn.shape[1], -1, -1), ma.unsqueeze(1).expand(-1, xn.shape[1], -1)
    p = params
    l_pos = local_similarity(xa_p, ma_p, xp, mp, p.tau, local_mode, local_mask)  # (B,)
    l_neg = local_similarity(xa_n, ma_n, xn, mn, p.tau, local_mode, local_mask)  # (B, N)
    g_pos = global_similarity(xa_p, ma_p, xp, mp, p.tau)
    g_neg = global_similarity(xa_n, ma_n, xn, mn, p.tau)
    return infonce_from_scores(l_pos, l_neg, g_pos, g_neg, neg_mask, p.w, p.top_k, p.base_margin, p.beta, detach_margin)


class MultiGranularityInfoNCE(nn.Module):
    """Holds the hyperparameters (:class:`InfoNceParams`, Table 2 defaults); ``forward`` is
    :func:`multi_granularity_infonce` averaged over B."""

    def __init__(
        self,
        params: InfoNceParams | None = None,
        local_mode: LocalMode = "position",
        local_mask: LocalMask = "both",
        detach_margin: bool = True,
    ) -> None:
        super().__init__()
        self.params = params or InfoNceParams()
        self.kw = dict(local_mode=local_mode, local_mask=local_mask, detach_margin=detach_margin)

    def forward(self, xa, ma, xp, mp, xn, mn, neg_mask) -> torch.Tensor:
        return multi_granularity_infonce(xa, ma, xp, mp, xn, mn, neg_mask, self.params, **self.kw).mean()


def expected_k(top_k: float, n_neg: int) -> int:
    return max(1, math.ceil(top_k * n_neg - 1e-9))
