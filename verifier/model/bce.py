"""The baseline every verifier must beat: the same encoder as a cross-encoder binary classifier.

Input ``[CLS] text [SEP] triple [SEP]``; the first token's state goes through dropout and a linear layer to
one logit; trained with binary cross-entropy on the same groups (anchor and positive = 1, negatives = 0).
Its score is the probability sigmoid(logit). It has no triple-triple view, so S_tt and the anchor AUC are
not defined for it (reported as missing, never as a number).

Frozen encoder. With every encoder layer frozen the baseline *is* logistic regression on the pairs' first-token
states, so ``fit_frozen_head`` fits it to convergence (scikit-learn, L2 strength C chosen on the validation
pairs' ROC AUC) instead of running SGD at one learning rate: the tuned form of the baseline for a fixed budget
of encoded pairs. Features are standardised for the fit and the scaling is folded back into the linear layer,
so the saved model is an ordinary ``CrossEncoderVerifier``.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn
from torch.nn import functional as F

from verifier.data.groups import Group
from verifier.model.configs import BceConfig
from verifier.model.encoder import TextEncoder
from verifier.model.inputs import Pairs, linearize, maybe_mask
from verifier.model.persistence import SavedModelMixin
from verifier.model.scores import GroupScores, score_groups
from verifier.schema import Triple


class CrossEncoderVerifier(SavedModelMixin, nn.Module):
    config_class = BceConfig

    def __init__(self, config: BceConfig, encoder: TextEncoder) -> None:
        super().__init__()
        self._bind(config, encoder)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(encoder.hidden_size, 1)
        import random

        self._rng = random.Random(0)

    def logits(self, texts: list[str], triples: list[Triple], langs: list[str]) -> torch.Tensor:
        h = self.pair_features(texts, triples, langs)  # (B, H)
        return self.classifier(self.dropout(h)).squeeze(-1)  # (B,)

    def pair_features(self, texts: list[str], triples: list[Triple], langs: list[str]) -> torch.Tensor:
        """(B, H) first-token states of ``[CLS] text [SEP] triple [SEP]``: what the classifier reads."""
        c = self.config
        second = [c.triple_prefix + linearize(t, c.linearization, lang) for t, lang in zip(triples, langs, strict=True)]
        batch = self.encoder.tokenizer(  # type: ignore[operator]
            [c.text_prefix + t for t in texts],
            second,
            padding=True,
            truncation="only_first",
            max_length=self.config.max_length,
            return_tensors="pt",
        )
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        return self.encoder.first_token(batch["input_ids"], batch["attention_mask"])  # (B, H) first token

    def forward(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a batch of groups (``forward`` so that DDP can wrap the model)."""
        return self.group_loss(groups, n_negatives)

    def group_loss(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        texts, triples, langs, labels = self.labelled_pairs(groups, n_negatives)
        logits = self.logits(texts, triples, langs)
        loss = F.binary_cross_entropy_with_logits(logits, torch.tensor(labels, device=self.device))
        return loss, {"loss_bce": loss.item()}

    def labelled_pairs(
        self, groups: list[Group], n_negatives: int | None = None
    ) -> tuple[list[str], list[Triple], list[str], list[float]]:
        """Texts, triples, languages and BCE labels of the groups' pairs (anchor and positive 1, negatives 0);
        in training mode the text's mentions are masked with ``entity_mask_prob``."""
        texts, triples, langs, labels = [], [], [], []
        mask_tok = self.encoder.mask_token
        for g in groups:
            text = maybe_mask(
                g.text, g.anchor, self.config.entity_mask_prob if self.training else 0.0, mask_tok, self._rng
            )
            for t, y in [(g.anchor, 1.0), (g.positive, 1.0)] + [(n, 0.0) for n in g.negatives[:n_negatives]]:
                texts.append(text)
                triples.append(t)
                langs.append(g.lang)
                labels.append(y)
        return texts, triples, langs, labels

    @torch.no_grad()
    def group_features(self, groups: list[Group], batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """(N, H) first-token states and (N,) labels of every pair of ``groups`` (eval mode, no masking)."""
        texts, triples, langs, labels = self.labelled_pairs(groups)
        feats = [
            self.pair_features(texts[i : i + batch_size], triples[i : i + batch_size], langs[i : i + batch_size])
            .float()
            .cpu()
            .numpy()
            for i in range(0, len(texts), batch_size)
        ]
        return np.concatenate(feats) if feats else np.zeros((0, self.encoder.hidden_size)), np.asarray(labels)

    @torch.no_grad()
    def score_pairs(self, pairs: Pairs, with_attention: bool = False) -> tuple[np.ndarray, np.ndarray, None]:
        """P(correct) per pair; no triple view, so S_tt is NaN."""
        s = torch.sigmoid(self.logits(pairs.texts, pairs.triples, pairs.langs)).float().cpu().numpy()
        return s, np.full(len(pairs), np.nan, dtype=np.float32), None

    @torch.no_grad()
    def group_scores(self, groups: list[Group], batch_size: int = 16) -> GroupScores:
        return score_groups(self, groups, batch_size)


class FrozenFit(BaseModel):
    """What ``fit_frozen_head`` chose: the L2 strength and each candidate's validation pair ROC AUC."""

    c: float
    val_auc: dict[str, float]
    train_pairs: int
    val_pairs: int


def fit_frozen_head(
    model: CrossEncoderVerifier,
    train_groups: list[Group],
    val_groups: list[Group],
    cs: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0),
    batch_size: int = 32,
) -> FrozenFit:
    """Fit the classifier of a frozen-encoder BCE baseline as L2 logistic regression on first-token states.

    Minimises sum_i BCE(w . z_i + b, y_i) + ||w||^2 / (2C) on standardised features z = (h - mu) / sigma, for each
    C in ``cs``; keeps the C with the best ROC AUC on the validation pairs (the BCE labels, anchor and positive
    vs negatives) and writes w / sigma and b - sum(w mu / sigma) into ``model.classifier``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from verifier.metrics import roc_auc

    if not model.encoder.fully_frozen:
        raise ValueError("fit_frozen_head needs a fully frozen encoder (its features must not change)")
    model.eval()
    x_tr, y_tr = model.group_features(train_groups, batch_size)  # (N, H), (N,)
    x_va, y_va = model.group_features(val_groups, batch_size)
    scaler = StandardScaler().fit(x_tr)
    z_tr, z_va = scaler.transform(x_tr), scaler.transform(x_va)
    fits = {c: LogisticRegression(C=c, max_iter=5000).fit(z_tr, y_tr) for c in cs}
    aucs = {c: roc_auc(y_va, f.decision_function(z_va)) for c, f in fits.items()}
    if any(a is None for a in aucs.values()):
        raise ValueError("the validation groups need both correct and negative pairs to choose C")
    best = max(cs, key=lambda c: aucs[c])
    w = fits[best].coef_[0] / scaler.scale_  # (H,)
    b = float(fits[best].intercept_[0] - (w * scaler.mean_).sum())
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(w, dtype=model.classifier.weight.dtype)[None, :])
        model.classifier.bias.fill_(b)
    return FrozenFit(
        c=best, val_auc={str(c): float(a) for c, a in aucs.items()}, train_pairs=len(y_tr), val_pairs=len(y_va)
    )
