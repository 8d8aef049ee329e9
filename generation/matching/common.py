"""Shared pieces of the matching models: zero-shot examples, entity markers, token positions of entities,
fixed description embeddings, and the description-matching baseline.

Entity markers (``[E1] head [/E1]`` ... ``[E2] tail [/E2]``) are added to the tokenizer as special tokens; the
encoder's embedding matrix grows when the tokenizer outgrows it (never shrinks).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch.nn import functional as F

from generation.matching.configs import Keywords, MarkerInit
from verifier.data.relations import RelationInfo
from verifier.model.encoder import TextEncoder
from verifier.schema import GoldRecord, Span

MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")
Hubness = Literal["none", "center", "csls"]
PUNCT_MARKERS = ("@", "@", "#", "#")
"""The real tokens whose embedding rows the head's and the tail's markers copy under ``marker_init="punct"``
(Zhou and Chen, 2021, "An Improved Baseline for Sentence-level Relation Extraction": "@ head @ ... # tail #")."""


class ZSExample(BaseModel):
    """One sentence with its entity pair and (for seen data) its relation id."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str
    text: str
    lang: str = "en"
    head: str
    tail: str
    head_span: Span
    tail_span: Span
    relation_id: str | None = None


def examples_from_records(records: Iterable[GoldRecord], with_relation: bool = True) -> list[ZSExample]:
    """One example per gold triple that has both entity spans (FewRel, Wiki-ZSL, DuIE with found mentions);
    ``with_relation=False`` leaves the gold relation out (a generator's input: the pair only)."""
    out = []
    for r in records:
        for t in r.triples:
            if t.head_span is None or t.tail_span is None:
                continue
            out.append(
                ZSExample(
                    doc_id=r.doc_id,
                    text=r.text,
                    lang=r.lang,
                    head=t.head,
                    tail=t.tail,
                    head_span=t.head_span,
                    tail_span=t.tail_span,
                    relation_id=(t.relation_id or t.relation) if with_relation else None,
                )
            )
    return out


def mark_entities(text: str, head: Span, tail: Span, markers: tuple[str, ...] = MARKERS) -> tuple[str, Span, Span]:
    """Insert markers around head and tail; returns the marked text and the new character spans of the two
    mentions (markers excluded). Overlapping spans keep the head's markers outside."""
    pieces = sorted(
        [
            (head[0], f"{markers[0]} "),
            (head[1], f" {markers[1]}"),
            (tail[0], f"{markers[2]} "),
            (tail[1], f" {markers[3]}"),
        ],
        key=lambda x: (x[0], x[1].startswith(" ")),
    )
    out, pos, shift = [], 0, {}
    for idx, ins in pieces:
        out.append(text[pos:idx])
        shift[(idx, ins)] = sum(len(s) for s in out)
        out.append(ins)
        pos = idx
    out.append(text[pos:])
    marked = "".join(out)

    def new_span(s: Span, open_m: str, close_m: str) -> Span:
        start = shift[(s[0], open_m)] + len(open_m)
        end = shift[(s[1], close_m)]
        return start, end

    return (
        marked,
        new_span(head, f"{markers[0]} ", f" {markers[1]}"),
        new_span(tail, f"{markers[2]} ", f" {markers[3]}"),
    )


def token_range(offsets: list[tuple[int, int]], span: Span) -> list[int]:
    """Indices of the tokens whose character span overlaps ``span`` (special tokens have empty spans)."""
    return [i for i, (s, e) in enumerate(offsets) if e > s and s < span[1] and e > span[0]]


def add_markers(encoder: TextEncoder, markers: tuple[str, ...] = MARKERS, init: MarkerInit = "new") -> None:
    """Add the four markers to the tokenizer (and rows to the embedding matrix when it is too small).

    ``init="new"``: the rows stay what the matrix holds there (e5's spare vocabulary rows, or the rows
    ``resize_token_embeddings`` makes). ``init="punct"``: the head's two markers copy the row of "@", the tail's
    two the row of "#" (:data:`PUNCT_MARKERS`), so that a frozen embedding matrix still tells the encoder which
    entity is the head. Measured on e5-small: its four spare rows have cosines 0.41-0.52 with one another and norm
    about 1.0 against 1.54 for a real token, rows that no pretraining gave a meaning to."""
    tok = encoder.tokenizer
    tok.add_special_tokens({"additional_special_tokens": list(markers)})  # type: ignore[attr-defined]
    emb = encoder.model.get_input_embeddings()
    if len(tok) > emb.num_embeddings:  # type: ignore[arg-type]
        encoder.model.resize_token_embeddings(len(tok))  # type: ignore[arg-type]
    if init == "punct":
        weight = encoder.model.get_input_embeddings().weight  # type: ignore[union-attr]
        with torch.no_grad():
            for marker, word in zip(markers, PUNCT_MARKERS, strict=True):
                ids = tok(word, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
                if not ids or tok.unk_token_id in ids:  # type: ignore[attr-defined]
                    raise ValueError(f"marker_init punct: {word!r} is not in the tokenizer's vocabulary")
                weight[tok.convert_tokens_to_ids(marker)] = weight[ids].mean(0)  # type: ignore[attr-defined]


def train_marker_rows(encoder: TextEncoder, markers: tuple[str, ...] = MARKERS) -> torch.nn.Parameter:
    """Make the marker rows of a frozen embedding matrix trainable: the matrix gets gradients again, and a hook
    zeroes every row's gradient but the markers'. Returns the matrix, which the optimizer must hold without
    weight decay (decay would move the frozen rows)."""
    weight = encoder.model.get_input_embeddings().weight  # type: ignore[union-attr]
    ids = torch.tensor(encoder.tokenizer.convert_tokens_to_ids(list(markers)))  # type: ignore[attr-defined]
    keep = torch.zeros(weight.shape[0], 1, dtype=weight.dtype)
    keep[ids] = 1
    weight.requires_grad_(True)
    weight.register_hook(lambda g: g * keep.to(g.device))
    return weight


def relation_text(info: RelationInfo) -> str:
    return f"{info.name}: {info.description}" if info.description else info.name


PLACEHOLDER_KEYWORDS = frozenset({"subject", "object", "item", "entity"})
"""RE-Matching keywords that name an argument's place in the description ("the subject", "the object") rather
than its type: 21 of FewRel's 80 relations have one among their head keywords, and for 10 (P155 "follows", P206,
...) it is the only one; P361 "part of" has nothing else on either side."""


def abbreviations(info: RelationInfo, keywords: Keywords = "as_written") -> tuple[str, str]:
    """The head and tail abbreviations s_h, s_t of a relation (SDZRE Eq. 6-7): the RE-Matching head/tail
    keywords when the description files have them (the first five), else the relation name.

    ``keywords="typed"`` first drops the placeholders of ``PLACEHOLDER_KEYWORDS`` (the name stands in when none is
    left). Why: Eq. 26 compares the head entity's state with d^h at weight alpha; a d^h of "subject" is the same
    text for P155, P206, P361 and P463 and shares its word with P921's "work, main subject", so it ranks those
    relations by how close an entity's state is to the word "subject" (the confusion P155 -> P921 is V7's
    second largest, docs/results.md section 5.0h)."""
    heads, tails = info.head_keywords, info.tail_keywords
    if keywords == "typed":
        heads = [k for k in heads if k.strip().lower() not in PLACEHOLDER_KEYWORDS]
        tails = [k for k in tails if k.strip().lower() not in PLACEHOLDER_KEYWORDS]
    return ", ".join(heads[:5]) or info.name, ", ".join(tails[:5]) or info.name


def saved_descriptions(meta: dict[str, Any], relations: list[str], kind: str) -> torch.Tensor | dict[str, torch.Tensor]:
    """What a saved matcher scores against, from its descriptions.json (``meta``): the description vectors of
    ``relations`` (R, D) for ZRCM; for SDZRE also its head and tail abbreviations' vectors, ``{"v", "h", "t"}``
    (Eq. 5-7), all embedded by the description encoder it was trained with."""
    enc = TextEncoder.from_name(meta["desc_encoder"]).eval()
    prefix = "passage: " if is_e5(meta["desc_encoder"]) else ""
    v = sentence_embeddings(enc, [meta["descriptions"][r] for r in relations], prefix)
    if kind != "sdzre":
        return v
    abbr = [meta["abbreviations"][r] for r in relations]
    h = sentence_embeddings(enc, [a[0] for a in abbr], prefix)
    return {"v": v, "h": h, "t": sentence_embeddings(enc, [a[1] for a in abbr], prefix)}


def is_e5(name_or_path: str) -> bool:
    return "e5" in os.path.basename(str(name_or_path).rstrip("/")).lower()


@torch.no_grad()
def sentence_embeddings(
    encoder: TextEncoder, texts: list[str], prefix: str = "", batch_size: int = 64, max_length: int = 128
) -> torch.Tensor:
    """Mean-pooled, L2-normalised sentence vectors (N, H) from a (frozen) encoder."""
    out = []
    dev = next(encoder.parameters()).device
    for i in range(0, len(texts), batch_size):
        batch = encoder.tokenize([prefix + t for t in texts[i : i + batch_size]], max_length)
        ids, mask = batch["input_ids"].to(dev), batch["attention_mask"].to(dev)
        h = encoder(ids, mask)  # (B, L, H)
        m = mask.unsqueeze(-1).to(h.dtype)
        out.append(F.normalize((h * m).sum(1) / m.sum(1), dim=-1))
    return torch.cat(out) if out else torch.zeros(0)


def correct_hubness(scores: torch.Tensor, mode: Hubness, k: int = 10) -> torch.Tensor:
    """A test-time correction of hubness for a (N sentences, R relations) similarity matrix -> (N, R).

    With few seen relations the description vectors span a handful of directions and one unseen relation can
    be the nearest neighbour of nearly every sentence (ZRCM gave 164 of 200 predictions to P177 on one seed).
    ``center`` subtracts each relation's mean similarity over the test sentences (column centring); ``csls``
    is cross-domain similarity local scaling (Lample et al., 2018): 2 s(i, r) - r_T(r) - r_S(i), with r_T(r)
    the mean similarity of relation r to its ``k`` most similar sentences and r_S(i) that of sentence i to its
    ``k`` most similar relations. Both read the unlabelled test sentences together (transductive), never a
    label; ``none`` is the papers' plain argmax."""
    if mode == "none" or scores.shape[0] == 0:
        return scores
    if mode == "center":
        return scores - scores.mean(0, keepdim=True)
    r_t = scores.topk(min(k, scores.shape[0]), dim=0).values.mean(0, keepdim=True)  # (1, R)
    r_s = scores.topk(min(k, scores.shape[1]), dim=1).values.mean(1, keepdim=True)  # (N, 1)
    return 2 * scores - r_t - r_s


def fuse_scores(scores: torch.Tensor, desc_scores: torch.Tensor, weight: float, mode: Hubness) -> torch.Tensor:
    """(N, R) matcher scores fused with the untrained description matcher's (N, R) cosines over the same
    relations: (1 - w) S / sd(h(S)) + w D / sd(h(D)), h the hubness correction ``mode`` and sd over all entries,
    so that each side weighs by its spread after the correction rather than by its units (SDZRE's Eq. 26 scores
    and plain cosines differ in scale). w = 0 returns S unchanged."""
    if weight == 0:
        return scores

    def unit(x: torch.Tensor) -> torch.Tensor:
        return x / correct_hubness(x, mode).std(correction=0).clamp_min(1e-8)

    return (1 - weight) * unit(scores) + weight * unit(desc_scores.to(scores.device, scores.dtype))


class DescriptionMatcher:
    """The plain baseline: a fixed sentence encoder embeds the sentence and every relation description; the
    prediction is the description with the highest cosine. No training."""

    generator_name = "desc"

    def __init__(self, encoder_name: str = "e5-small") -> None:
        self.encoder = TextEncoder.from_name(encoder_name).eval()
        self.e5 = is_e5(encoder_name)

    def describe(self, infos: list[RelationInfo]) -> torch.Tensor:
        return sentence_embeddings(self.encoder, [relation_text(i) for i in infos], "passage: " if self.e5 else "")

    def scores(self, examples: list[ZSExample], desc: torch.Tensor) -> torch.Tensor:
        """(N, R) cosine of each sentence (entities marked in plain text) with each description."""
        texts = [f"{e.text} ({e.head} ; {e.tail})" for e in examples]
        return sentence_embeddings(self.encoder, texts, "query: " if self.e5 else "") @ desc.T
