"""Bidirectional cross-attention between a text and a triple (CACRE Eq. 2-4).

Eq. 2: V_T = softmax(Q_T K_R^T / sqrt(d_k)) V_R with E(T) as query and E(R) as key/value, and V_R with E(R)
as query and E(T) as key/value; multi-head, per-head weights W_i kept.
Eq. 3: W_avg = mean over heads of W_i.
Eq. 4: Ṽ = bmm(W_avg, V_vector).

Alignment of different lengths. W_T (Lt x Lr) is indexed by triple positions along its columns, so the
dimensionally consistent product aggregates vectors indexed by triple positions: Ṽ_T = W_T,avg · V_R and
Ṽ_R = W_R,avg · V_T (``aggregation="cross"``, our default). The literal reading, Ṽ_T = W_T,avg · V_T, only
type-checks when both sequences are padded to the same length (the paper pads to 128); it is available as
``aggregation="same"``, in which case the caller pads texts and triples to one common length.

Efficiency. The two attentions hold ``nn.MultiheadAttention`` parameters (so checkpoints use the standard
names), but the maths is written out: a text shared by many triples has its query, key and value projections
computed once and gathered per pair (``t_idx``), and for the long text queries the output projection is
folded into the short triple's values (U_h = V_h Wo_h) so it never runs over the text positions. The result
equals ``nn.MultiheadAttention`` (tested).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from verifier.model.configs import Aggregation


def _in_proj(x: torch.Tensor, mha: nn.MultiheadAttention, which: int) -> torch.Tensor:
    """The q (0), k (1) or v (2) input projection of ``mha`` applied to x (..., L, H)."""
    h = mha.embed_dim
    w = mha.in_proj_weight[which * h : (which + 1) * h]
    b = mha.in_proj_bias[which * h : (which + 1) * h] if mha.in_proj_bias is not None else None
    return F.linear(x, w, b)


def _value_out(v: torch.Tensor, mha: nn.MultiheadAttention) -> torch.Tensor:
    """Per-head values already mapped by the output projection: U_h = V_h Wo_h. (N, L, H) -> (N, nH, L, H)."""
    n, length, h = v.shape
    nh, d = mha.num_heads, h // mha.num_heads
    vh = v.view(n, length, nh, d).transpose(1, 2)  # (N, nH, L, d)
    wo = mha.out_proj.weight.view(h, nh, d).permute(1, 2, 0)  # (nH, d, H): Wo columns of head h
    return vh @ wo  # (N, nH, L, H)


def _heads(x: torch.Tensor, nh: int) -> torch.Tensor:
    p, length, h = x.shape
    return x.view(p, length, nh, h // nh).transpose(1, 2)  # (P, nH, L, d)


def _weights(q: torch.Tensor, k: torch.Tensor, key_mask: torch.Tensor, mha: nn.MultiheadAttention) -> torch.Tensor:
    """Eq. 2 attention weights per head: softmax(Q K^T / sqrt(d_k)) over unmasked keys. -> (P, nH, Lq, Lk)"""
    nh = mha.num_heads
    scores = _heads(q, nh) @ _heads(k, nh).transpose(-1, -2) / math.sqrt(q.shape[-1] // nh)
    return torch.softmax(scores.masked_fill(~key_mask[:, None, None, :], float("-inf")), dim=-1)


def _attend_long_queries(w: torch.Tensor, u: torch.Tensor, mha: nn.MultiheadAttention) -> torch.Tensor:
    """Output for long query sequences over short keys: sum over heads and keys of W_h U_h, with U = V Wo
    precomputed on the short side, so the output projection never runs on the long side.
    w (P, nH, Lq, Lk), u (P, nH, Lk, H) -> (P, Lq, H)."""
    p, nh, lq, lk = w.shape
    w = F.dropout(w, mha.dropout, mha.training)
    out = torch.bmm(w.permute(0, 2, 1, 3).reshape(p, lq, nh * lk), u.reshape(p, nh * lk, u.shape[-1]))
    return out + mha.out_proj.bias if mha.out_proj.bias is not None else out


def _attend_short_queries(w: torch.Tensor, v: torch.Tensor, mha: nn.MultiheadAttention) -> torch.Tensor:
    """The standard path for short queries: heads (W_h V_h), concatenated, then the output projection.
    w (P, nH, Lq, Lk), v (P, Lk, H) -> (P, Lq, H)."""
    p, nh, lq, _ = w.shape
    w = F.dropout(w, mha.dropout, mha.training)
    heads = w @ _heads(v, nh)  # (P, nH, Lq, d)
    return mha.out_proj(heads.transpose(1, 2).reshape(p, lq, v.shape[-1]))


class BidirectionalCrossAttention(nn.Module):
    def __init__(self, hidden: int, n_heads: int, dropout: float = 0.0, aggregation: Aggregation = "cross") -> None:
        super().__init__()
        if hidden % n_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {n_heads} heads")
        self.text_to_triple = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        self.triple_to_text = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        self.aggregation = aggregation

    def forward(
        self,
        e_t: torch.Tensor,
        m_t: torch.Tensor,
        e_r: torch.Tensor,
        m_r: torch.Tensor,
        t_idx: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """e_t (U, Lt, H), m_t (U, Lt): distinct texts; e_r (P, Lr, H), m_r (P, Lr): one triple per pair;
        t_idx (P,) the text of each pair (default: the identity, U == P).

        Returns Ṽ_T (P, Lt, H), Ṽ_R (P, Lr, H), W_T,avg (P, Lt, Lr), W_R,avg (P, Lr, Lt).
        """
        m_t, m_r = m_t.bool(), m_r.bool()
        if t_idx is None:
            t_idx = torch.arange(e_t.shape[0], device=e_t.device)
        a, b = self.text_to_triple, self.triple_to_text
        # text queries (long) over the triple (short): the output projection is folded into the triple values
        q_t = _in_proj(e_t, a, 0)[t_idx]  # per distinct text, gathered: (P, Lt, H)
        w_t = _weights(q_t, _in_proj(e_r, a, 1), m_r, a)  # Eq. 2 weights W_T: (P, nH, Lt, Lr)
        v_t = _attend_long_queries(w_t, _value_out(_in_proj(e_r, a, 2), a), a)  # V_T: (P, Lt, H)
        # triple queries (short) over the text (long): keys and values projected once per distinct text
        k_t = _in_proj(e_t, b, 1)[t_idx]  # (P, Lt, H)
        w_r = _weights(_in_proj(e_r, b, 0), k_t, m_t[t_idx], b)  # W_R: (P, nH, Lr, Lt)
        v_r = _attend_short_queries(w_r, _in_proj(e_t, b, 2)[t_idx], b)  # V_R: (P, Lr, H)
        w_t_avg = w_t.mean(dim=1)  # Eq. 3: (P, Lt, Lr)
        w_r_avg = w_r.mean(dim=1)  # (P, Lr, Lt)
        if self.aggregation == "cross":
            vt = torch.bmm(w_t_avg, v_r)  # Eq. 4: (P, Lt, Lr) x (P, Lr, H) -> (P, Lt, H)
            vr = torch.bmm(w_r_avg, v_t)  # (P, Lr, Lt) x (P, Lt, H) -> (P, Lr, H)
        else:
            if v_t.shape[1] != v_r.shape[1]:
                raise ValueError("aggregation='same' needs texts and triples padded to one length")
            vt = torch.bmm(w_t_avg, v_t)  # (P, L, L) x (P, L, H)
            vr = torch.bmm(w_r_avg, v_r)
        return vt, vr, w_t_avg, w_r_avg
