"""Bidirectional cross-attention between a text and a triple (CACRE Eq. 2-4).

Eq. 2: V_T = softmax(Q_T K_R^T / sqrt(d_k)) V_R with E(T) as query and E(R) as key/value, and V_R with E(R)
as query and E(T) as key/value; multi-head (``nn.MultiheadAttention``), per-head weights W_i kept.
Eq. 3: W_avg = mean over heads of W_i.
Eq. 4: Ṽ = bmm(W_avg, V_vector).

Alignment of different lengths. W_T (Lt x Lr) is indexed by triple positions along its columns, so the
dimensionally consistent product aggregates vectors indexed by triple positions: Ṽ_T = W_T,avg · V_R and
Ṽ_R = W_R,avg · V_T (``aggregation="cross"``, our default). The literal reading, Ṽ_T = W_T,avg · V_T, only
type-checks when both sequences are padded to the same length (the paper pads to 128); it is available as
``aggregation="same"``, in which case the caller pads texts and triples to one common length.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Aggregation = Literal["cross", "same"]


class BidirectionalCrossAttention(nn.Module):
    def __init__(self, hidden: int, n_heads: int, dropout: float = 0.0, aggregation: Aggregation = "cross") -> None:
        super().__init__()
        if hidden % n_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by {n_heads} heads")
        self.text_to_triple = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        self.triple_to_text = nn.MultiheadAttention(hidden, n_heads, dropout=dropout, batch_first=True)
        self.aggregation = aggregation

    def forward(
        self, e_t: torch.Tensor, m_t: torch.Tensor, e_r: torch.Tensor, m_r: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """e_t (P, Lt, H), m_t (P, Lt) bool; e_r (P, Lr, H), m_r (P, Lr) bool.

        Returns Ṽ_T (P, Lt, H), Ṽ_R (P, Lr, H), W_T,avg (P, Lt, Lr), W_R,avg (P, Lr, Lt).
        """
        v_t, w_t = self.text_to_triple(
            e_t, e_r, e_r, key_padding_mask=~m_r.bool(), need_weights=True, average_attn_weights=False
        )  # (P, Lt, H), (P, nH, Lt, Lr)
        v_r, w_r = self.triple_to_text(
            e_r, e_t, e_t, key_padding_mask=~m_t.bool(), need_weights=True, average_attn_weights=False
        )  # (P, Lr, H), (P, nH, Lr, Lt)
        w_t_avg = w_t.mean(dim=1)  # Eq. 3: (P, Lt, Lr)
        w_r_avg = w_r.mean(dim=1)  # (P, Lr, Lt)
        if self.aggregation == "cross":
            vt = torch.bmm(w_t_avg, v_r)  # Eq. 4: (P, Lt, Lr) x (P, Lr, H) -> (P, Lt, H)
            vr = torch.bmm(w_r_avg, v_t)  # (P, Lr, Lt) x (P, Lt, H) -> (P, Lr, H)
        else:
            if e_t.shape[1] != e_r.shape[1]:
                raise ValueError("aggregation='same' needs texts and triples padded to one length")
            vt = torch.bmm(w_t_avg, v_t)  # (P, L, L) x (P, L, H)
            vr = torch.bmm(w_r_avg, v_r)
        return vt, vr, w_t_avg, w_r_avg
