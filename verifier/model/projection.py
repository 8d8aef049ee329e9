"""Projection network (CACRE Eq. 5-7).

Eq. 5: X_proj = F(Linear(Conv1D(G))) — a 1-D convolution over the sequence extracts local features, a
linear map goes from H to the projection size P.
Eq. 6: F(x) = LayerNorm(LeakyReLU(Linear(W_p x + b_p) W_y + b_y)) — two linear maps, LeakyReLU, LayerNorm.
Eq. 7: X = X_proj + lambda * (V W_res + b_res), lambda learnable; the residual is added directly when H == P.
Dropout (0.2, Table 2) is applied to X_proj before the residual sum. Padded positions are zeroed before the
convolution so that padding never leaks into real positions.
"""

from __future__ import annotations

import torch
from torch import nn


class ProjectionNetwork(nn.Module):
    def __init__(
        self, hidden: int, proj_dim: int = 512, kernel_size: int = 3, dropout: float = 0.2, residual_init: float = 1.0
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(hidden, hidden, kernel_size, padding=kernel_size // 2)
        self.linear = nn.Linear(hidden, proj_dim)
        self.w_p = nn.Linear(proj_dim, proj_dim)
        self.w_y = nn.Linear(proj_dim, proj_dim)
        self.act = nn.LeakyReLU()
        self.norm = nn.LayerNorm(proj_dim)
        self.dropout = nn.Dropout(dropout)
        self.residual = nn.Identity() if hidden == proj_dim else nn.Linear(hidden, proj_dim)
        self.lam = nn.Parameter(torch.tensor(float(residual_init)))

    def forward(self, g: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """g (B, L, H), mask (B, L) -> X (B, L, P)."""
        g = g * mask.unsqueeze(-1).to(g.dtype)
        c = self.conv(g.transpose(1, 2)).transpose(1, 2)  # (B, L, H)
        z = self.linear(c)  # (B, L, P)
        x_proj = self.norm(self.act(self.w_y(self.w_p(z))))  # Eq. 6: (B, L, P)
        return self.dropout(x_proj) + self.lam * self.residual(g)  # Eq. 7
