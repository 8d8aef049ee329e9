"""SDZRE: semantic distillation for zero-shot relation extraction (../shared/papers/sdzre.txt, section 3).

Input sentence encoder (3.3.1). Entities are marked with [E_h] [/E_h] [E_t] [/E_t]; the entity representations
are weight-pooled over each entity's tokens (Eq. 2-3: a learned score per token, softmax within the span, one
scorer for the head and one for the tail: our reading of "WeightPooling", after Lin et al. 2017), and the
context is the concatenation of the [E_h] and [E_t] marker states (Eq. 4).

Relation description encoder (3.3.2). A sentence encoder embeds the description d^v, the head abbreviation d^h
and the tail abbreviation d^t (Eq. 5-7); the abbreviations are the head/tail keywords of the RE-Matching
processed descriptions when present, else the relation name. The paper fine-tunes it; ``train_descriptions``
does that, off by default here to fit CPU budgets (then description vectors are computed once).

Bidirectional semantic distiller (3.4). The context h_i goes through a fully connected layer to ĥ_i.
- Fusion projection distiller (Eq. 8-14): a learned query q attends over the token states; A_dot =
  softmax(q K^T) V, A_inv = (1 - softmax(q K^T)) V, A'_inv = A_inv minus its projection on A_dot, h^- = A_dot +
  A'_inv; a classifier on GRL(A_dot) predicts the seen relation (L_Rev, Eq. 12-13) so that q learns to pick
  relation-irrelevant features; h̄_1 = ĥ minus its projection on h^- (Eq. 14).
- Gaussian adaptive selector (Eq. 15-22), our reading: the d features of ĥ form a sequence of scalars with
  positions l_i = i / (d - 1); per-feature query/key/value are learned affine maps; W̃ = softmax(Q K^T);
  mu = mean(k) + mu_offset (learned), sigma = std(k); G_i = exp(-((l_i - mu) / sigma)^2 / 2), normalised to
  sum to 1; W = Ĝ ⊙ W̃ (row i scaled by Ĝ_i); h̄_2 = W V.
- h̄ = h̄_1 + h̄_2 (Eq. 23).

Contrastive learning (3.5, Eq. 24-25): a random mask view (elements zeroed with p = 0.15) and a feature
cutoff view (a random ratio of dimensions zeroed: 0.2 FewRel, 0.1 Wiki-ZSL) of h̄, each through a fully
connected layer and LayerNorm, then InfoNCE over the batch with tau = 0.05.

Matching (3.6): f(X, p) = alpha [cos(h_Eh, d^h) + cos(h_Et, d^t)] + (1 - 2 alpha) cos(h̄, d^v), alpha = 0.33
(Eq. 26); margin ranking against the hardest negative description (Eq. 27, gam_t) and against the best of the
semi-hard ones ranked after the top-k hard negatives (Eq. 28, gam_b) (Eq. 29). Total loss L = L_Rev + L_Ctr +
L_Mr (Eq. 30). gam_t, gam_b and k are not printed in the paper (Fig. 10 shows the best margins near 0): we use
0.02, 0.01 and k = 3. ``fc_init="identity"`` starts the context layer as the mean of the two marker states
(the paper's is random; see its docstring for the measurement); ``context="mean"`` reads the sentence's mean token
state instead of Eq. 4's marker states; ``distiller_grad="distiller"`` keeps L_Rev's reversed gradient out of the
encoder. Ablations (Table 2): ``contrastive``, ``distiller``, ``multi_negative`` (False: one random negative
description, the classic margin loss), ``semi_hard`` (False: Eq. 27 only).
"""

from __future__ import annotations

import random

import torch
from torch import nn
from torch.nn import functional as F

from generation.matching.common import ZSExample, add_markers, mark_entities, token_range
from generation.matching.configs import SdzreConfig
from verifier.model.encoder import TextEncoder
from verifier.model.persistence import SavedModelMixin

SDZRE_MARKERS = ("[E_h]", "[/E_h]", "[E_t]", "[/E_t]")


class GradientReversal(torch.autograd.Function):
    """GRL (Ganin & Lempitsky 2015): identity forward, gradient multiplied by -lambda backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.lam * grad, None


def grl(x: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    return GradientReversal.apply(x, lam)


def remove_component(x: torch.Tensor, direction: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x minus its projection on ``direction`` (Eq. 10 and 14): x - (x·d) d / |d|^2. (B, D), (B, D) -> (B, D)"""
    coef = (x * direction).sum(-1, keepdim=True) / (direction.pow(2).sum(-1, keepdim=True) + eps)
    return x - coef * direction


def gaussian_weights(k: torch.Tensor, mu_offset: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 16-20 over normalised positions l_i = i / (n - 1). k (B, n) -> Ĝ (B, n), positive, rows sum to 1."""
    n = k.shape[-1]
    pos = torch.linspace(0, 1, n, device=k.device, dtype=k.dtype)  # (n,)
    mu = k.mean(-1, keepdim=True) + mu_offset  # Eq. 16: (B, 1)
    sigma = k.std(-1, unbiased=False, keepdim=True) + eps  # Eq. 18
    g = torch.exp(-0.5 * ((pos - mu).abs() / sigma) ** 2)  # Eq. 17, 19
    g = g + 1e-12  # keep every weight strictly positive
    return g / g.sum(-1, keepdim=True)  # Eq. 20


class FusionProjectionDistiller(nn.Module):
    """Eq. 8-14."""

    def __init__(self, hidden: int, n_seen: int) -> None:
        super().__init__()
        self.q = nn.Parameter(torch.randn(hidden) / hidden**0.5)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, max(1, n_seen))  # E, b of Eq. 12

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, h_hat: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens (B, L, H), mask (B, L), ĥ (B, H) -> h̄_1 (B, H), classifier logits on GRL(A_dot) (B, R)."""
        k, v = self.k(tokens), self.v(tokens)  # (B, L, H)
        att = (k @ self.q) / k.shape[-1] ** 0.5  # (B, L)
        att = torch.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        a_dot = (att.unsqueeze(-1) * v).sum(1)  # Eq. 8: (B, H)
        a_inv = ((1 - att) * mask).unsqueeze(-1).mul(v).sum(1)  # Eq. 9
        a_inv_p = remove_component(a_inv, a_dot)  # Eq. 10
        h_minus = a_dot + a_inv_p  # Eq. 11
        logits = self.classifier(grl(a_dot))  # Eq. 12
        return remove_component(h_hat, h_minus), logits  # Eq. 14


class GaussianAdaptiveSelector(nn.Module):
    """Eq. 15-22 on the features of ĥ as a sequence of scalars (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Parameter(torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]))  # (3, [scale, shift])
        self.mu_offset = nn.Parameter(torch.tensor(0.5))

    def forward(self, h_hat: torch.Tensor) -> torch.Tensor:
        """ĥ (B, d) -> h̄_2 (B, d)."""
        q, k, v = (h_hat * self.qkv[i, 0] + self.qkv[i, 1] for i in range(3))  # (B, d) each
        w_tilde = torch.softmax(q.unsqueeze(-1) * k.unsqueeze(-2), dim=-1)  # Eq. 15: (B, d, d)
        g = gaussian_weights(k, self.mu_offset)  # Eq. 16-20: (B, d)
        w = g.unsqueeze(-1) * w_tilde  # Eq. 21
        return (w @ v.unsqueeze(-1)).squeeze(-1)  # Eq. 22


def mean_state(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of the unmasked token states. x (B, L, H), mask (B, L) bool -> (B, H)"""
    m = mask.unsqueeze(-1).to(x.dtype)  # (B, L, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1)


def info_nce(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 24-25: row i of a should match row i of b among the batch. (B, D), (B, D) -> scalar"""
    logits = a @ b.T / tau  # (B, B)
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


def ranking_loss(f_all: torch.Tensor, y: torch.Tensor, cfg: SdzreConfig, rng: random.Random) -> torch.Tensor:
    """Eq. 27-29. f_all (B, R) matching scores against every seen description; y (B,) gold indices."""
    _, r = f_all.shape
    pos = f_all.gather(1, y.unsqueeze(1)).squeeze(1)  # (B,)
    neg = f_all.masked_fill(F.one_hot(y, r).bool(), float("-inf"))  # (B, R)
    if not cfg.multi_negative:
        idx = torch.tensor([rng.choice([j for j in range(r) if j != int(t)]) for t in y], device=f_all.device)
        return torch.clamp(f_all.gather(1, idx.unsqueeze(1)).squeeze(1) - pos + cfg.gam_t, min=0).mean()
    ranked = neg.sort(dim=-1, descending=True).values  # (B, R) with -inf last
    loss = torch.clamp(ranked[:, 0] - pos + cfg.gam_t, min=0)  # Eq. 27: the hardest negative
    if cfg.semi_hard and r - 1 > cfg.top_k:
        loss = loss + torch.clamp(ranked[:, cfg.top_k] - pos + cfg.gam_b, min=0)  # Eq. 28: best semi-hard
    return loss.mean()  # Eq. 29


class SDZRE(SavedModelMixin, nn.Module):
    config_class = SdzreConfig

    def __init__(self, config: SdzreConfig, encoder: TextEncoder) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        add_markers(encoder, SDZRE_MARKERS, config.marker_init)
        h, d = encoder.hidden_size, config.desc_dim
        self.head_score = nn.Linear(h, 1)  # WeightPooling scorers (Eq. 2-3)
        self.tail_score = nn.Linear(h, 1)
        parts = 2 if config.context == "markers" else 1
        self.fc = nn.Linear(parts * h, h)  # h_i -> ĥ_i
        if config.fc_init == "identity":  # ĥ starts as the mean of the two marker states (or the mean state)
            with torch.no_grad():
                self.fc.weight.copy_(torch.cat([torch.eye(h)] * parts, dim=1) / parts)
                self.fc.bias.zero_()
        self.fpd = FusionProjectionDistiller(h, len(config.seen_relations))
        self.gas = GaussianAdaptiveSelector()
        self.view = nn.Sequential(nn.Linear(h, h), nn.LayerNorm(h))  # contrastive processing layer
        self.to_desc = nn.Identity() if h == d else nn.Linear(h, d)
        self._rng = random.Random(0)

    def encode(self, examples: list[ZSExample]) -> dict[str, torch.Tensor]:
        """Entity representations, context h_i (Eq. 4), token states and mask."""
        marked = [mark_entities(e.text, e.head_span, e.tail_span, SDZRE_MARKERS) for e in examples]
        tok = self.encoder.tokenizer
        enc = tok(
            [m[0] for m in marked],
            padding=True,
            truncation=True,  # type: ignore[operator]
            max_length=self.config.max_length,
            return_tensors="pt",
            return_offsets_mapping=True,
        )
        ids, mask = enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device).bool()
        x = self.encoder(ids, mask.long())  # Eq. 1: (B, L, H)
        mid_h, mid_t = tok.convert_tokens_to_ids([SDZRE_MARKERS[0], SDZRE_MARKERS[2]])  # type: ignore[attr-defined]
        heads, tails, ctx = [], [], []
        for i, (_, hs, ts) in enumerate(marked):
            offs = [tuple(o) for o in enc["offset_mapping"][i].tolist()]
            for span, scorer, out in ((hs, self.head_score, heads), (ts, self.tail_score, tails)):
                idx = token_range(offs, span) or [0]
                tokens = x[i, idx]  # (n, H)
                w = torch.softmax(scorer(tokens).squeeze(-1), dim=0)  # Eq. 2-3
                out.append((w.unsqueeze(-1) * tokens).sum(0))
            row = ids[i].tolist()
            ph = row.index(mid_h) if mid_h in row else 0
            pt = row.index(mid_t) if mid_t in row else 0
            ctx.append(torch.cat([x[i, ph], x[i, pt]]))  # Eq. 4
        # context "mean": the sentence's mean token state (B, H) instead of Eq. 4's (B, 2H)
        context = mean_state(x, mask) if self.config.context == "mean" else torch.stack(ctx)
        return {"head": torch.stack(heads), "tail": torch.stack(tails), "ctx": context, "x": x, "mask": mask}

    def distill(self, enc: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        h_hat = self.fc(enc["ctx"])  # (B, H)
        if not self.config.distiller:
            return h_hat, None
        x = enc["x"] if self.config.distiller_grad == "encoder" else enc["x"].detach()  # (B, L, H)
        h1, logits = self.fpd(x, enc["mask"], h_hat)
        return h1 + self.gas(h_hat), logits  # Eq. 23

    def match(self, enc: dict[str, torch.Tensor], h_bar: torch.Tensor, desc: dict[str, torch.Tensor]) -> torch.Tensor:
        """Eq. 26 against every description. desc: v/h/t (R, D) -> (B, R)"""
        a = self.config.alpha

        def cos(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            return F.normalize(self.to_desc(u), dim=-1) @ F.normalize(w, dim=-1).T

        return a * (cos(enc["head"], desc["h"]) + cos(enc["tail"], desc["t"])) + (1 - 2 * a) * cos(h_bar, desc["v"])

    def loss(self, examples: list[ZSExample], desc: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        rel_index = {r: i for i, r in enumerate(cfg.seen_relations)}
        y = torch.tensor([rel_index[e.relation_id] for e in examples], device=self.device)
        enc = self.encode(examples)
        h_bar, logits = self.distill(enc)
        parts: dict[str, torch.Tensor] = {"mr": ranking_loss(self.match(enc, h_bar, desc), y, cfg, self._rng)}
        if logits is not None:
            parts["rev"] = F.cross_entropy(logits, y)  # Eq. 13 (its gradient into q is reversed by the GRL)
        if cfg.contrastive and len(examples) > 1:
            z_r = h_bar * (torch.rand_like(h_bar) >= cfg.mask_prob)  # random mask view
            keep = torch.ones(h_bar.shape[-1], device=self.device)
            keep[torch.randperm(h_bar.shape[-1], device=self.device)[: int(cfg.cutoff_ratio * h_bar.shape[-1])]] = 0
            z_d = h_bar * keep  # feature cutoff view
            parts["ctr"] = info_nce(F.normalize(self.view(z_r), dim=-1), F.normalize(self.view(z_d), dim=-1), cfg.tau)
        return sum(parts.values()), {k: v.item() for k, v in parts.items()}  # Eq. 30

    @torch.no_grad()
    def scores(self, examples: list[ZSExample], desc: dict[str, torch.Tensor], batch_size: int = 32) -> torch.Tensor:
        out = []
        for i in range(0, len(examples), batch_size):
            enc = self.encode(examples[i : i + batch_size])
            out.append(self.match(enc, self.distill(enc)[0], desc))
        return torch.cat(out) if out else torch.zeros(0, desc["v"].shape[0])
