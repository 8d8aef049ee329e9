"""ZRCM: zero-shot relation extraction with a contrastive negative-sample generator (../shared/papers/zrcm.txt,
section III).

Representation (section III-A). An entity-marked sentence goes through the encoder; H0 is the first token
([CLS] / <s>), He1 and He2 the mean of the head's and the tail's token states (Eq. 1-2);
Ṽ+ = H0 + W tanh([H0; He1; He2]) + b, then a fully connected layer with activation gives V+ in the space of
the relation descriptions, whose vectors V^d come from a fixed sentence encoder. Similarity D is the inner
product (the paper's choice; cosine and negative Euclidean distance are options).

Negative sample generator (section III-B), per training sentence:
- RNS: another sentence of the batch, through the same path as V+. The paper's prose says the one "farthest
  away" from this relation's description, its formula D(V-_1, V^d) = max_i D(V+_i, V^d) the most similar one
  (a hard in-batch negative). We follow the formula (``rns="hardest"``): the easiest negative gives almost no
  gradient, and with it training collapsed to one predicted relation in our runs (FewRel m = 5). Sentences of
  the same relation are never taken (they are false negatives, which the paper warns about).
  ``rns="farthest"`` is the prose reading;
- ReNS: the sentence with its relation-indicative words masked (words shared with the relation's name,
  aliases and description; jieba words for Chinese), or, when there are none, a random share of the words
  that are not entity words;
- ENS: the sentence with the entity words masked.
For ReNS and ENS the paper takes the [CLS] state through an activation and dropout; it then has the
encoder's width, so we pass it through the same output layer as V+ to compare it with V^d (our reading).

Description space. Sentence encoders are anisotropic: e5-small's description vectors share one dominant
direction (mean pairwise cosine 0.83 over FewRel's relations). Against raw vectors the cheapest way to raise
D(V+, V^d) for every relation at once is to align V+ with that shared direction, and the tanh output
saturated there in our runs (every V+ the same sign vector, one predicted relation). So by default
(``center_descriptions=True``) V^d is taken relative to the mean of the seen relations' descriptions and
rescaled to unit length, (V^d - mu_seen) / ||V^d - mu_seen||; mu_seen is kept with the model and used for unseen
relations too (no statistics of the test relations). ``center_descriptions=False`` uses the raw vectors.

Objectives (section III-C): the margin loss C = sum_i max(0, gamma - D(V+, V^d) + D(V-_i, V^d)) (Eq. 3-4) and
a seen-relation classification objective (Eq. 5), combined as L = (1 - alpha) C - alpha D_cls (Eq. 6). Eq. 5
is garbled in the paper ((-1)^{2j} = 1, a hinge at beta); our default reads D_cls as the negated cross-entropy
of the positive's seen-relation prediction, so L = (1 - alpha) C + alpha CE (``cls_objective="ce"``); the
literal form D_cls = max(0, -(CE_0 + CE_ReNS + CE_ENS) + beta) is ``cls_objective="literal"``.
Defaults: alpha 0.4, beta 4 (FewRel; 0 for Wiki-ZSL), gamma 7.5, batch 4, Adam.

Where the literal reading starts at chance (docs/results.md section 5: 32.6 macro F1 at m = 5 against 57.2 for
the untrained description matcher), four options make training start *at* that baseline instead; each keeps
the literal value as its other setting:
- ``init="identity"``: with ``desc_dim`` equal to the encoder width, ``out`` starts as the identity and ``fuse``
  at zero, so V+ = tanh(H0) at step 0 instead of a random projection (``"random"``: the paper's);
- ``sentence_state="mean"``: H0 is the mean of the sentence's token states, the vector a mean-pooling encoder
  (e5, Sentence-BERT) was trained to produce, instead of its first token (``"first"``), and the sentence gets
  the encoder's query prefix (``prefix``, ``query: `` for e5);
- ``similarity="cosine"`` with ``scale``: D = scale * cos(V+, V^d). The margin gamma = 7.5 is in inner-product
  units, while V^d is unit length and V+ tanh-bounded, so meeting it asks for a saturated tanh, the collapse we
  observed; at scale 20 it is a cosine margin of 0.375 (``similarity="inner"``, scale 1: the paper's);
- ``negative_path="same"``: ReNS and ENS go through the same path as V+ (markers, mention pooling, fusion),
  so the model cannot tell them from positives by the path they took (``"cls"``: the paper's [CLS] path);
- ``train_markers``: with the embeddings frozen (a CPU budget) the marker rows of the embedding matrix still
  train; otherwise ``[E1]`` ... keep their random initial vectors;
- ``input_form="appended"``: no markers at all; the sentence is read as the description baseline reads it,
  ``sentence (head ; tail)``, and He1 / He2 pool the appended mentions. With the four options above, step 0 is
  then the baseline's own sentence vector (through tanh) instead of a marked sentence e5 never saw in training
  (``"markers"``: the paper's).
"""

from __future__ import annotations

import random
import re
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from generation.matching.common import (
    MARKERS,
    ZSExample,
    add_markers,
    mark_entities,
    token_range,
)
from generation.matching.configs import Similarity, ZrcmConfig
from verifier.data.relations import RelationInfo
from verifier.model.encoder import TextEncoder
from verifier.model.persistence import SavedModelMixin
from verifier.schema import Span

_STOP = set("the of a an in on at to for by from with and or is was are were be been this that which as its it".split())


def similarity(a: torch.Tensor, b: torch.Tensor, kind: Similarity, scale: float = 1.0) -> torch.Tensor:
    """scale * D(a_i, b_j) for all pairs: a (N, D), b (M, D) -> (N, M)."""
    if kind == "inner":
        return scale * (a @ b.T)
    if kind == "cosine":
        return scale * (F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T)
    return -scale * torch.cdist(a, b)


def margin_loss(s_pos: torch.Tensor, s_negs: torch.Tensor, gamma: float) -> torch.Tensor:
    """Eq. 3-4: sum over negatives of max(0, gamma - D(V+, V^d) + D(V-_i, V^d)). s_pos (B,), s_negs (B, K) -> (B,)"""
    return torch.clamp(gamma - s_pos.unsqueeze(-1) + s_negs, min=0).sum(-1)


def rns_scores(s: torch.Tensor, y: torch.Tensor, mode: Literal["hardest", "farthest"]) -> torch.Tensor | None:
    """D(V-_1, V^d_i) of the RNS (section III-B): over the batch's sentences k of another relation, the max
    (hardest, the paper's formula) or min (farthest, its prose) of s[i, k] = D(V+_k, V^d_i).
    s (B, B), y (B,) relation indices -> (B,), -inf/+inf where row i has no other relation; None if none has."""
    same = y.unsqueeze(0) == y.unsqueeze(1)  # (B, B)
    if bool(same.all()):
        return None
    if mode == "hardest":
        return s.masked_fill(same, float("-inf")).max(-1).values
    return s.masked_fill(same, float("inf")).min(-1).values


def relation_words(info: RelationInfo | None, lang: str) -> set[str]:
    if info is None:
        return set()
    text = " ".join([info.name, info.description, *info.aliases])
    if lang == "zh":
        import jieba

        return {w for w in jieba.lcut(text) if len(w.strip()) > 1}
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in _STOP and len(w) > 2}


def word_spans(text: str, lang: str) -> list[tuple[int, int, str]]:
    if lang == "zh":
        import jieba

        return [(s, e, w) for w, s, e in jieba.tokenize(text) if w.strip()]
    return [(m.start(), m.end(), m.group()) for m in re.finditer(r"\w+", text)]


def _overlaps(s: int, e: int, spans: list[tuple[int, int]]) -> bool:
    return any(s < b and e > a for a, b in spans)


def rens_example(ex: ZSExample, info: RelationInfo | None, mask: str, rng: random.Random, p: float) -> ZSExample:
    """The ReNS sentence as an example whose entity spans follow the masking (for ``negative_path="same"``)."""
    text, spans = _masked_spans(ex, _rens_spans(ex, info, rng, p), mask)
    return ex.model_copy(update={"text": text, "head_span": spans[0], "tail_span": spans[1]})


def ens_example(ex: ZSExample, mask: str) -> ZSExample:
    """The ENS sentence as an example: each mention replaced by ``mask``, its span now the mask's."""
    text, spans = _masked_spans(ex, [], mask, mask_entities=True)
    return ex.model_copy(update={"text": text, "head_span": spans[0], "tail_span": spans[1]})


def _masked_spans(
    ex: ZSExample, spans: list[tuple[int, int]], mask: str, mask_entities: bool = False
) -> tuple[str, list[tuple[int, int]]]:
    """Replace ``spans`` (and the two mentions when ``mask_entities``) by ``mask``; returns the text and the
    head's and tail's new spans (a masked mention's span is its mask). A cut overlapping an earlier one is
    skipped, as in :func:`_replace`."""
    ents = [(ex.head_span[0], ex.head_span[1]), (ex.tail_span[0], ex.tail_span[1])]
    applied: list[tuple[int, int]] = []
    for a, b in sorted({*spans, *(ents if mask_entities else [])}):
        if not applied or a >= applied[-1][1]:
            applied.append((a, b))

    def moved(x: int) -> int:  # old offset -> new offset, for x outside every cut
        return x + sum(len(mask) - (b - a) for a, b in applied if b <= x)

    new = [(moved(a), moved(a) + len(mask)) if (a, b) in applied else (moved(a), moved(a) + b - a) for a, b in ents]
    return _replace(ex.text, applied, mask), new


def _rens_spans(ex: ZSExample, info: RelationInfo | None, rng: random.Random, p: float) -> list[tuple[int, int]]:
    """The words ReNS masks: relation-indicative ones (never the entities); random words when none is found."""
    ents = [ex.head_span, ex.tail_span]
    words = [(s, e, w) for s, e, w in word_spans(ex.text, ex.lang) if not _overlaps(s, e, ents)]
    rel = relation_words(info, ex.lang)

    def indicative(w: str) -> bool:
        w = w.lower()
        return w in rel or (ex.lang != "zh" and len(w) > 4 and any(r[:5] == w[:5] for r in rel if len(r) > 4))

    chosen = [(s, e) for s, e, w in words if indicative(w)]
    if not chosen and words:
        k = max(1, round(p * len(words)))
        chosen = sorted((s, e) for s, e, _ in rng.sample(words, min(k, len(words))))
    return chosen


def rens_text(ex: ZSExample, info: RelationInfo | None, mask: str, rng: random.Random, p: float) -> tuple[str, int]:
    """ReNS: mask relation-indicative words (never the entities); random words when none is found.
    Returns the masked text and how many words were masked."""
    chosen = _rens_spans(ex, info, rng, p)
    return _replace(ex.text, chosen, mask), len(chosen)


def ens_text(ex: ZSExample, mask: str) -> str:
    """ENS: the entity mentions masked."""
    return _replace(ex.text, sorted([ex.head_span, ex.tail_span]), mask)


def _replace(text: str, spans: list[tuple[int, int]], mask: str) -> str:
    out, pos = [], 0
    for s, e in sorted(spans):
        if s < pos:
            continue
        out += [text[pos:s], mask]
        pos = e
    out.append(text[pos:])
    return "".join(out)


class ZRCM(SavedModelMixin, nn.Module):
    config_class = ZrcmConfig

    def __init__(self, config: ZrcmConfig, encoder: TextEncoder) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder
        add_markers(encoder, init=config.marker_init)
        h = encoder.hidden_size
        self.fuse = nn.Linear(3 * h, h)  # W, b of Ṽ+ = H0 + W tanh([H0; He1; He2]) + b
        self.out = nn.Linear(h, config.desc_dim)  # the fully connected layer to V+
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.desc_dim, max(1, len(config.seen_relations)))
        self.register_buffer("desc_mean", torch.zeros(config.desc_dim))  # mu_seen
        self._rng = random.Random(0)
        if config.init == "identity":
            if config.desc_dim != h:
                raise ValueError(f"init='identity' needs desc_dim = encoder width ({config.desc_dim} != {h})")
            with torch.no_grad():
                self.out.weight.copy_(torch.eye(h))
                self.out.bias.zero_()
                self.fuse.weight.zero_()
                self.fuse.bias.zero_()

    def description_space(self, desc: torch.Tensor) -> torch.Tensor:
        """V^d as compared with V+: centred on mu_seen and unit length (or raw). (R, D) -> (R, D)"""
        if not self.config.center_descriptions:
            return desc
        return F.normalize(desc - self.desc_mean, dim=-1)

    def encoder_input(self, e: ZSExample) -> tuple[str, Span, Span]:
        """The text the encoder reads and the head's and tail's character spans in it (``input_form``). The
        appended mentions are read from the text's spans, so a masked mention (ENS) stays masked."""
        if self.config.input_form == "markers":
            return mark_entities(e.text, e.head_span, e.tail_span)
        head, tail = e.text[e.head_span[0] : e.head_span[1]], e.text[e.tail_span[0] : e.tail_span[1]]
        before_head = f"{e.text} ("
        before_tail = f"{before_head}{head} ; "
        spans = (len(before_head), len(before_head) + len(head)), (len(before_tail), len(before_tail) + len(tail))
        return f"{before_tail}{tail})", spans[0], spans[1]

    def represent(self, examples: list[ZSExample]) -> torch.Tensor:
        """V+ for each example (Eq. 1-2 and the residual fusion). -> (B, D)"""
        pre = self.config.prefix
        marked = [self.encoder_input(e) for e in examples]
        marked = [
            (pre + t, (hs[0] + len(pre), hs[1] + len(pre)), (ts[0] + len(pre), ts[1] + len(pre)))
            for t, hs, ts in marked
        ]
        enc = self.encoder.tokenizer(  # type: ignore[operator]
            [m[0] for m in marked],
            padding=True,
            truncation=True,
            max_length=self.config.max_length,
            return_tensors="pt",
            return_offsets_mapping=True,
        )
        mask = enc["attention_mask"].to(self.device)
        h = self.encoder(enc["input_ids"].to(self.device), mask)  # (B, L, H)
        if self.config.sentence_state == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)  # (B, L, 1)
            h0 = (h * m).sum(1) / m.sum(1)  # (B, H)
        else:
            h0 = h[:, 0]  # (B, H)
        pooled = []
        for i, (_, hs, ts) in enumerate(marked):
            offs = [tuple(o) for o in enc["offset_mapping"][i].tolist()]
            for span in (hs, ts):
                idx = token_range(offs, span) or [0]  # a mention cut off by truncation falls back to [CLS]
                pooled.append(h[i, idx].mean(0))  # Eq. 1-2
        he = torch.stack(pooled).view(len(examples), 2, -1)  # (B, 2, H)
        v_tilde = h0 + self.fuse(torch.tanh(torch.cat([h0, he[:, 0], he[:, 1]], dim=-1)))  # (B, H)
        return torch.tanh(self.out(self.dropout(v_tilde)))  # V+ (B, D)

    def represent_cls(self, texts: list[str]) -> torch.Tensor:
        """V- of a masked sentence: [CLS] -> activation -> dropout -> the output layer. -> (B, D)"""
        batch = self.encoder.tokenize(texts, self.config.max_length)
        h0 = self.encoder(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))[:, 0]
        return torch.tanh(self.out(self.dropout(torch.tanh(h0))))

    def loss(
        self, examples: list[ZSExample], desc: torch.Tensor, infos: dict[str, RelationInfo]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Eq. 3-6 on a batch. ``desc`` (R_seen, D) is aligned with ``config.seen_relations``."""
        cfg = self.config
        rel_index = {r: i for i, r in enumerate(cfg.seen_relations)}
        y = torch.tensor([rel_index[e.relation_id] for e in examples], device=self.device)  # (B,)
        if self.training:
            self.desc_mean.copy_(desc.mean(0))  # desc holds every seen relation
        vd = self.description_space(desc)[y]  # (B, D) each sentence's own description
        v_pos = self.represent(examples)  # (B, D)
        sim = similarity(v_pos, vd, cfg.similarity, cfg.scale)  # (B, B): sentence k against description of i
        s_pos = sim.diagonal()  # (B,)
        negs = []
        rns = rns_scores(sim.T, y, cfg.rns) if "rns" in cfg.negatives else None  # (B,) or None
        if rns is not None:
            negs.append(torch.where(torch.isfinite(rns), rns, s_pos.detach() - cfg.gamma - 1))  # none: term 0
        mask = self.encoder.mask_token
        p, rng = cfg.random_mask_prob, self._rng
        same = cfg.negative_path == "same"
        views = {}
        if "rens" in cfg.negatives:
            views["rens"] = (
                self.represent([rens_example(e, infos.get(e.relation_id or ""), mask, rng, p) for e in examples])
                if same
                else self.represent_cls(
                    [rens_text(e, infos.get(e.relation_id or ""), mask, rng, p)[0] for e in examples]
                )
            )
        if "ens" in cfg.negatives:
            views["ens"] = (
                self.represent([ens_example(e, mask) for e in examples])
                if same
                else self.represent_cls([ens_text(e, mask) for e in examples])
            )
        for v in views.values():
            negs.append(similarity(v, vd, cfg.similarity, cfg.scale).diagonal())
        if not negs:  # no negative sample at all: the margin term vanishes
            negs.append(s_pos.detach() - cfg.gamma - 1)
        c = margin_loss(s_pos, torch.stack(negs, -1), cfg.gamma).mean()  # Eq. 4
        ce0 = F.cross_entropy(self.classifier(v_pos), y)
        if cfg.cls_objective == "ce":
            loss = (1 - cfg.alpha) * c + cfg.alpha * ce0
        else:  # literal Eq. 5-6
            ce_all = ce0 + sum(F.cross_entropy(self.classifier(v), y) for v in views.values())
            d_cls = torch.clamp(-ce_all + cfg.beta, min=0)
            loss = (1 - cfg.alpha) * c - cfg.alpha * d_cls
        return loss, {"margin": c.item(), "ce": ce0.item()}

    @torch.no_grad()
    def scores(self, examples: list[ZSExample], desc: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
        """D(V+, V^d) of every example against every candidate description. -> (N, R)"""
        desc = self.description_space(desc)
        out = [
            similarity(self.represent(examples[i : i + batch_size]), desc, self.config.similarity, self.config.scale)
            for i in range(0, len(examples), batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, desc.shape[0])


__all__ = [
    "MARKERS",
    "ZRCM",
    "ZrcmConfig",
    "ens_example",
    "ens_text",
    "margin_loss",
    "rens_example",
    "rens_text",
    "rns_scores",
    "similarity",
]
