"""CACRE with its interaction on pretrained layers (late fusion): the default reading of Eq. 2-4.

Why not the literal module. Eq. 4 as written, Ṽ_T = W_T,avg · V_R, makes every text position a convex mixture of
the triple's values (and the reverse), and nothing carries E(T) / E(R) past it: with random attention the rows of
Ṽ_R have a mean pairwise cosine near 1.0 (a toy check with Gaussian states gave 1.000), so the projection sees two
bags of tokens. Measured (docs/results.md, experiment 1): the literal module trained for 200 steps on frozen
e5-small ranks head/tail swaps at anchor AUC 0.097 and below the model *without* it (CACRE-att); on real LLM
candidates every such model scored candidate AUC 0.41-0.51. A plain cross-encoder with its top 4 layers trained
for 15 minutes reached 0.72-0.81 on the same kind of candidates.

The reading that works. "Bidirectional cross-attention between text and triple" is what the top k self-attention
layers of a pretrained encoder already compute when they run over the concatenation [E(T); E(R)]: text queries
attend to triple keys and triple queries to text keys (Eq. 2), per head, and each layer's residual keeps the token
identity that Eq. 4 erases. So:

    E_low(T) = layers[:12-k](T),  E_low(R) = layers[:12-k](R)       separately; frozen and cached per sequence
    [Ṽ_T; Ṽ_R] = layers[12-k:]([E_low(T); E_low(R)])                 jointly, initialised from the pretrained weights
    X_T, X_R = ProjectionNetwork(Ṽ_T), ProjectionNetwork(Ṽ_R)          Eq. 5-7, shared, learnable residual

``fusion_layers`` = k: 12 is a full cross-encoder (GPU default); the CPU recipe uses a smaller k chosen by
``bench/train_step.py`` (pairs/s per k). One text's lower states serve its whole group and every candidate of a
document.

Scores. S_st (Eq. 16 with tau = 1) on X_T, X_R with the *aligned* local term (each triple token against its
best-matching text token, ``LocalMode = "align"``; position j of a text means nothing to position j of a triple).
Beside it a pointwise score: a linear head on the mean-pooled fused text and triple states, trained with binary
cross-entropy, meant to make scores comparable across texts (the group InfoNCE only ranks candidates within a
text). Measured, it did not learn within the CPU budget (it predicted the base rate), while the fused cosine
ranked real candidates best of every model here, so ``score = "similarity"`` (default) returns the fused cosine as
S_st and the calibrated decision (``verifier.decision``) maps it onto a probability; ``"pointwise"`` returns
sigmoid(logit).

S_tt: the fused cosine of two triples' X_R, each fused with the same text (the anchor view of Figure 2).
The literal module stays available as ``verifier train --interaction paper`` (:mod:`verifier.model.cacre`).
"""

from __future__ import annotations

import random

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn
from torch.nn import functional as F

from verifier.data.groups import Group
from verifier.losses import (
    LocalMode,
    fused_cosine,
    mean_pool,
    multi_granularity_infonce,
)
from verifier.model.configs import FusionConfig
from verifier.model.encoder import TextEncoder
from verifier.model.inputs import Pairs, linearize, maybe_mask, mention_marks
from verifier.model.persistence import SavedModelMixin
from verifier.model.precision import autocast_for
from verifier.model.projection import ProjectionNetwork
from verifier.model.scores import GroupScores, score_groups
from verifier.schema import Triple


class FusedPairs(BaseModel):
    """Fused token states of P (text, triple) pairs (tensors, not serialised)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    h_t: torch.Tensor  # (P, Lt, H) text side after the joint layers
    m_t: torch.Tensor  # (P, Lt)
    h_r: torch.Tensor  # (P, Lr, H) triple side
    m_r: torch.Tensor  # (P, Lr)


class MarkerEmbedding(nn.Module):
    """Entity markers at the joint layers' input: a vector per marker id (``inputs.MARK_*``; none = 0) added to
    the text side's lower-layer states, per pair (the text's cached states are shared; the markers are not).

    Zero at the start, so an untrained marker changes nothing. Stored divided by ``GAIN`` = 10 so that the heads'
    learning rate (1e-4 in both presets) moves them 1e-3 per step: the states after six frozen e5-small layers have
    a per-dimension magnitude of about 0.3 (mean |x| 0.297, token norm 8.5, measured on two DuIE sentences), which
    a marker then reaches in a few hundred steps rather than a few thousand."""

    GAIN = 10.0

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3, hidden))  # head, tail, both

    def forward(self, marks: torch.Tensor) -> torch.Tensor:
        """(P, L) marker ids -> (P, L, H) vectors to add (zero where the id is 0)."""
        table = torch.cat([self.weight.new_zeros(1, self.weight.shape[1]), self.GAIN * self.weight])  # (4, H)
        return table[marks]


class LateFusionVerifier(SavedModelMixin, nn.Module):
    """CACRE with the interaction on the encoder's top ``fusion_layers`` layers (see the module docstring)."""

    config_class = FusionConfig

    def __init__(self, config: FusionConfig, encoder: TextEncoder) -> None:
        super().__init__()
        self._bind(config, encoder)
        base = encoder.base
        n = encoder.n_layers
        k = n if config.fusion_layers is None else config.fusion_layers
        if k > n:
            from verifier.config import ConfigError

            raise ConfigError(f"--fusion-layers {k} exceeds the encoder's {n} layers")
        self.n_lower = n - k
        for p in base.embeddings.parameters():
            p.requires_grad_(False)
        for layer in base.encoder.layer[: self.n_lower]:
            for p in layer.parameters():
                p.requires_grad_(False)
        for name, p in base.named_parameters():
            if name.startswith("pooler"):
                p.requires_grad_(False)
        h = encoder.hidden_size
        self.proj = (
            ProjectionNetwork(h, config.projection_dim, config.conv_kernel, config.dropout, config.residual_init)
            if config.projection
            else None
        )
        self.head_dropout = nn.Dropout(config.dropout)
        self.pointwise = nn.Linear(2 * h, 1)
        if config.pointwise_on == "similarity":
            # S_st -> logit: scale 1/tau of Table 2, centred on a cosine of 0.5 (only then: older checkpoints load)
            self.sim_scale = nn.Parameter(torch.tensor(1.0 / config.tau))
            self.sim_bias = nn.Parameter(torch.tensor(-0.5 / config.tau))
        self.markers = MarkerEmbedding(h) if config.entity_markers else None
        encoder.enable_lower_cache(self.n_lower)
        self._rng = random.Random(0)

    # ------------------------------------------------------------------ encoding

    def _text(self, text: str) -> str:
        return self.config.text_prefix + text

    def linearize(self, t: Triple, lang: str) -> str:
        return self.config.triple_prefix + linearize(t, self.config.linearization, lang)

    def lower_states(self, strings: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """strings -> states after the frozen lower layers (B, L, H) and mask (B, L); each distinct sequence is
        computed once per model (the encoder's lower-layer cache) and cached."""
        tok = self.encoder.tokenize(strings, max_length)
        return self.encoder.lower_states(tok["input_ids"], tok["attention_mask"])

    def fuse(
        self,
        e_t: torch.Tensor,
        m_t: torch.Tensor,
        e_r: torch.Tensor,
        m_r: torch.Tensor,
        t_idx: torch.Tensor,
        marks: torch.Tensor | None = None,
    ) -> FusedPairs:
        """The joint top layers over [text; triple] for P pairs (text t_idx[p], triple p).

        e_t (U, Lt, H) distinct texts, e_r (P, Lr, H) one triple per pair, marks (P, Lt) marker ids of each pair's
        text tokens (with ``entity_markers``) -> fused states split back by side."""
        lt = e_t.shape[1]
        h_t = e_t[t_idx]  # (P, Lt, H)
        if self.markers is not None and marks is not None:
            h_t = h_t + self.markers(marks)
        h = torch.cat([h_t, e_r], dim=1)  # (P, Lt + Lr, H)
        m = torch.cat([m_t[t_idx], m_r], dim=1)  # (P, Lt + Lr)
        h = self.encoder.upper_states(h, m)  # the top k layers; their residuals keep each token's identity
        return FusedPairs(h_t=h[:, :lt], m_t=m[:, :lt], h_r=h[:, lt:], m_r=m[:, lt:])

    def encode_pairs(
        self, texts: list[str], triples: list[str], mentions: list[tuple[str, str]] | None = None
    ) -> FusedPairs:
        """Prefixed text and linearised-triple strings, one per pair, and each pair's (head, tail) for the entity
        markers; each distinct text is tokenised and encoded once."""
        uniq = list(dict.fromkeys(texts))
        pos = {t: i for i, t in enumerate(uniq)}
        marked = self.markers is not None and mentions is not None
        tok = self.encoder.tokenize(uniq, self.config.text_window(self.training), offsets=marked)
        e_t, m_t = self.encoder.lower_states(tok["input_ids"], tok["attention_mask"])
        e_r, m_r = self.lower_states(triples, self.config.max_triple_length)
        t_idx = torch.tensor([pos[t] for t in texts], device=self.device)
        marks = self.marker_ids(texts, mentions, tok["offset_mapping"], pos) if marked else None  # type: ignore[arg-type]
        return self.fuse(e_t, m_t, e_r, m_r, t_idx, marks)

    def marker_ids(
        self, texts: list[str], mentions: list[tuple[str, str]], offsets: torch.Tensor, pos: dict[str, int]
    ) -> torch.Tensor:
        """(P, L) marker ids of each pair's text tokens; ``offsets`` (U, L, 2): the character spans of the distinct
        texts' tokens (``pos``: text -> row), from the tokenisation the lower-layer states were computed on."""
        spans = offsets.tolist()
        start = len(self.config.text_prefix)
        pairs = zip(texts, mentions, strict=True)
        rows = [mention_marks(t, spans[pos[t]], head, tail, start) for t, (head, tail) in pairs]
        return torch.tensor(rows, dtype=torch.long, device=self.device)

    def logits(self, fp: FusedPairs) -> torch.Tensor:
        """Pointwise logit from the mean-pooled fused text and triple states. -> (P,)"""
        z = torch.cat([mean_pool(fp.h_t, fp.m_t), mean_pool(fp.h_r, fp.m_r)], dim=-1)  # (P, 2H)
        return self.pointwise(self.head_dropout(z)).squeeze(-1).float()

    def project(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return self.proj(x, m) if self.proj is not None else x  # (P, L, D)

    @torch.no_grad()
    def prefill_states(self, groups: list[Group], batch_size: int = 128, progress: bool = False) -> int:
        """Compute the frozen lower-layer states of every text and triple of ``groups`` once, sorted by length."""
        cfg = self.config
        texts = {self._text(g.text) for g in groups}
        triples = {self.linearize(t, g.lang) for g in groups for t in (g.anchor, g.positive, *g.negatives)}
        jobs = [(s, cfg.max_text_length) for s in texts] + [(s, cfg.max_triple_length) for s in triples]
        jobs.sort(key=lambda j: (j[1], len(j[0])))
        from tqdm.auto import tqdm

        with tqdm(total=len(jobs), desc="encode (lower layers)", unit="seq", disable=not progress) as bar:
            for i in range(0, len(jobs), batch_size):
                chunk = jobs[i : i + batch_size]
                for max_len in sorted({m for _, m in chunk}):
                    self.lower_states([s for s, m in chunk if m == max_len], max_len)
                bar.update(len(chunk))
        return len(jobs)

    # ------------------------------------------------------------------ training

    def forward(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        return self.group_loss(groups, n_negatives)

    def group_loss(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Pointwise BCE + multi-granularity InfoNCE (Eq. 8-20; text view and anchor view) over a batch of groups.

        Slot 0 of each group is the anchor (gold), slot 1 the positive view, slots 2.. the negatives."""
        cfg = self.config
        negs = [g.negatives[:n_negatives] if n_negatives else g.negatives for g in groups]
        n_max = max(len(n) for n in negs)
        texts, strings, slots, labels, mentions = [], [], [], [], []
        for gi, g in enumerate(groups):
            p_mask = cfg.entity_mask_prob if self.training else 0.0
            text = self._text(maybe_mask(g.text, g.anchor, p_mask, self.encoder.mask_token, self._rng))
            for j, t in enumerate([g.anchor, g.positive, *negs[gi]]):
                texts.append(text)
                strings.append(self.linearize(t, g.lang))
                mentions.append((t.head, t.tail))
                slots.append((gi, j))
                labels.append(1.0 if j < 2 else 0.0)
        fp = self.encode_pairs(texts, strings, mentions)
        dev = self.device
        y = torch.tensor(labels, device=dev)
        xt = self.project(fp.h_t, fp.m_t).float()  # (P, Lt, D)
        xr = self.project(fp.h_r, fp.m_r).float()  # (P, Lr, D)
        if cfg.pointwise_on == "similarity":
            s_st = self.fused_cosine(xt, fp.m_t, xr, fp.m_r, cfg.local_mode)  # (P,)
            logit = self.sim_scale * s_st + self.sim_bias
        else:
            logit = self.logits(fp)
        l_bce = F.binary_cross_entropy_with_logits(logit, y)
        info = {"loss_bce": l_bce.item()}
        loss = cfg.pointwise_weight * l_bce
        if cfg.infonce_weight > 0:
            b, s = len(groups), 2 + n_max
            gi_t = torch.tensor([a for a, _ in slots], device=dev)
            j_t = torch.tensor([c for _, c in slots], device=dev)
            gxt = xt.new_zeros(b, s, *xt.shape[1:])  # (B, 2+N, Lt, D)
            gmt = torch.zeros(b, s, xt.shape[1], dtype=torch.bool, device=dev)
            gxr = xr.new_zeros(b, s, *xr.shape[1:])  # (B, 2+N, Lr, D)
            gmr = torch.zeros(b, s, xr.shape[1], dtype=torch.bool, device=dev)
            gxt[gi_t, j_t], gmt[gi_t, j_t] = xt, fp.m_t
            gxr[gi_t, j_t], gmr[gi_t, j_t] = xr, fp.m_r
            neg_mask = torch.zeros(b, n_max, dtype=torch.bool, device=dev)
            for gi, n in enumerate(negs):
                neg_mask[gi, : len(n)] = True
            negs_r, negs_m = gxr[:, 2:], gmr[:, 2:]
            l_pos = multi_granularity_infonce(
                gxt[:, 1:], gmt[:, 1:], gxr[:, 1], gmr[:, 1], negs_r, negs_m, neg_mask, cfg, cfg.local_mode
            ).mean()  # text view, the positive as the correct triple
            keep = [0, *range(2, s)]
            l_gold = multi_granularity_infonce(
                gxt[:, keep], gmt[:, keep], gxr[:, 0], gmr[:, 0], negs_r, negs_m, neg_mask, cfg, cfg.local_mode
            ).mean()  # text view, the anchor (schema form) as the correct triple
            l_anchor = multi_granularity_infonce(
                gxr[:, 0], gmr[:, 0], gxr[:, 1], gmr[:, 1], negs_r, negs_m, neg_mask, cfg, "maxsim"
            ).mean()  # anchor view
            l_nce = (l_pos + l_gold) / 2 + cfg.anchor_weight * l_anchor
            info.update(loss_text=l_pos.item(), loss_text_gold=l_gold.item(), loss_anchor=l_anchor.item())
            loss = loss + cfg.infonce_weight * l_nce
        return loss, info

    # ------------------------------------------------------------------ scoring

    def fused_cosine(
        self, xa: torch.Tensor, ma: torch.Tensor, xb: torch.Tensor, mb: torch.Tensor, mode: LocalMode
    ) -> torch.Tensor:
        """``losses.fused_cosine`` with this model's w and the given local similarity. -> (P,)"""
        return fused_cosine(xa, ma, xb, mb, self.config.w, mode)

    @torch.no_grad()
    def score_pairs(
        self, pairs: Pairs, with_attention: bool = False, batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray, None]:
        """S_st (pointwise probability or fused cosine, see ``FusionConfig.score``) and S_tt (fused cosine of the
        candidate's and its view's triple states, each fused with the text; NaN without a view)."""
        texts, triples, langs = pairs.texts, pairs.triples, pairs.langs
        n = len(pairs)
        s_st = np.full(n, np.nan, dtype=np.float32)
        s_tt = np.full(n, np.nan, dtype=np.float32)
        views = pairs.views or [None] * n
        for a in range(0, n, batch_size):
            rows = range(a, min(n, a + batch_size))
            vrows = [i for i in rows if views[i] is not None]
            tx = [self._text(texts[i]) for i in rows] + [self._text(texts[i]) for i in vrows]
            st = [self.linearize(triples[i], langs[i]) for i in rows]
            st += [self.linearize(views[i], langs[i]) for i in vrows]  # type: ignore[arg-type]
            men = [(triples[i].head, triples[i].tail) for i in rows]
            men += [(views[i].head, views[i].tail) for i in vrows]  # type: ignore[union-attr]
            with autocast_for(self.device):
                fp = self.encode_pairs(tx, st, men)
                k = len(rows)
                if self.config.score == "pointwise" and self.config.pointwise_on == "pooled":
                    s = torch.sigmoid(
                        self.logits(FusedPairs(h_t=fp.h_t[:k], m_t=fp.m_t[:k], h_r=fp.h_r[:k], m_r=fp.m_r[:k]))
                    )
                else:
                    xt, xr = self.project(fp.h_t[:k], fp.m_t[:k]), self.project(fp.h_r[:k], fp.m_r[:k])
                    s = self.fused_cosine(xt.float(), fp.m_t[:k], xr.float(), fp.m_r[:k], self.config.local_mode)
                    if self.config.score == "pointwise":  # the BCE's own probability of the cosine
                        s = torch.sigmoid(self.sim_scale * s + self.sim_bias)
                s_st[a : a + k] = s.float().cpu().numpy()
                if vrows:
                    xr = self.project(fp.h_r, fp.m_r).float()
                    idx = torch.tensor([i - a for i in vrows], device=self.device)
                    cos = self.fused_cosine(xr[idx], fp.m_r[idx], xr[k:], fp.m_r[k:], "maxsim")
                    s_tt[vrows] = cos.float().cpu().numpy()
        return s_st, s_tt, None

    @torch.no_grad()
    def group_scores(self, groups: list[Group], batch_size: int = 16) -> GroupScores:
        return score_groups(self, groups, batch_size)


__all__ = ["FusionConfig", "LateFusionVerifier"]
