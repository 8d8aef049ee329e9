"""The baseline every verifier must beat: the same encoder as a cross-encoder binary classifier.

Input ``[CLS] text [SEP] triple [SEP]``; the first token's state goes through dropout and a linear layer to
one logit; trained with binary cross-entropy on the same groups (anchor and positive = 1, negatives = 0).
Its score is the probability sigmoid(logit). It has no triple-triple view, so S_tt and the anchor AUC are
not defined for it (reported as missing, never as a number).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn
from torch.nn import functional as F

from verifier.data.groups import Group
from verifier.model.cacre import GroupScores
from verifier.model.encoder import TextEncoder
from verifier.model.inputs import Linearization, linearize, maybe_mask
from verifier.model.persistence import SavedModelMixin
from verifier.schema import Triple


class BceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_type: Literal["bce"] = "bce"
    encoder: str = "hfl/chinese-roberta-wwm-ext"
    hidden_size: int | None = None
    dropout: float = 0.2
    linearization: Linearization = "plain"
    max_length: int = 160
    """Text (128) plus a short linearised triple."""
    entity_mask_prob: float = 0.0


class CrossEncoderVerifier(SavedModelMixin, nn.Module):
    config_class = BceConfig

    def __init__(self, config: BceConfig, encoder: TextEncoder) -> None:
        super().__init__()
        config.hidden_size = encoder.hidden_size
        self.config = config
        self.encoder = encoder
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(encoder.hidden_size, 1)
        import random

        self._rng = random.Random(0)

    def logits(self, texts: list[str], triples: list[Triple], langs: list[str]) -> torch.Tensor:
        second = [linearize(t, self.config.linearization, lang) for t, lang in zip(triples, langs, strict=True)]
        batch = self.encoder.tokenizer(  # type: ignore[operator]
            texts,
            second,
            padding=True,
            truncation="only_first",
            max_length=self.config.max_length,
            return_tensors="pt",
        )
        batch = {k: v.to(self.device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        h = self.encoder.first_token(batch["input_ids"], batch["attention_mask"])  # (B, H) first token
        return self.classifier(self.dropout(h)).squeeze(-1)  # (B,)

    def forward(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss of a batch of groups (``forward`` so that DDP can wrap the model)."""
        return self.group_loss(groups, n_negatives)

    def group_loss(self, groups: list[Group], n_negatives: int | None = None) -> tuple[torch.Tensor, dict[str, float]]:
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
        logits = self.logits(texts, triples, langs)
        loss = F.binary_cross_entropy_with_logits(logits, torch.tensor(labels, device=self.device))
        return loss, {"loss_bce": loss.item()}

    @torch.no_grad()
    def score_pairs(
        self,
        texts: list[str],
        triples: list[Triple],
        langs: list[str],
        views: list[Triple | None] | None = None,
        with_attention: bool = False,
    ):
        s = torch.sigmoid(self.logits(texts, triples, langs)).float().cpu().numpy()
        return s, np.full(len(texts), np.nan, dtype=np.float32), None

    @torch.no_grad()
    def group_scores(self, groups: list[Group], batch_size: int = 16) -> GroupScores:
        out = GroupScores()
        for i in range(0, len(groups), batch_size):
            chunk = groups[i : i + batch_size]
            texts, triples, langs = [], [], []
            for g in chunk:
                for t in [g.anchor, g.positive, *g.negatives]:
                    texts.append(g.text)
                    triples.append(t)
                    langs.append(g.lang)
            s, _, _ = self.score_pairs(texts, triples, langs)
            k = 0
            for g in chunk:
                out.text_gold.append(float(s[k]))
                k += 1
                out.text_pos.append(float(s[k]))
                k += 1
                for kind in g.corruptions:
                    out.text_neg.append(float(s[k]))
                    out.neg_corruptions.append(kind)
                    k += 1
        return out


def load_verifier(directory: str | os.PathLike[str], map_location: str = "cpu"):
    """Load a saved CACRE or BCE verifier by the ``model_type`` in its config.json."""
    from verifier.model.cacre import TripleVerifier

    kind = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8")).get("model_type")
    return (CrossEncoderVerifier if kind == "bce" else TripleVerifier).from_pretrained(directory, map_location)
