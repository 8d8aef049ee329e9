"""``verifier filter``: score candidates with a trained verifier and keep those with S_st >= tau1 and
S_tt >= tau2 (CACRE section 2.4).

S_st is the fused similarity (Eq. 16 form, as a cosine in [-1, 1]) between the projected text and the
projected triple. S_tt reads the paper's "internal similarity of the triple" as self-consistency: the fused
similarity between the candidate and a positive view of the same fact. The view (``--view-source``):

- ``group``: the generator's paired view in the same group (the CACRE prompt's anchor_i/positive_i: an anchor
  or negative is compared with the group's positive, a positive with the group's anchor);
- ``lexicon``: built from the relation lexicon (a synonym relation, else the inverse relation with head and
  tail exchanged);
- ``auto`` (default): ``group`` when the row has one, else ``lexicon``.

A candidate with no possible view (a relation outside the lexicon, no group) gets ``s_tt = None``; by default
it is then gated by tau1 alone (``--missing-view pass``), or rejected (``--missing-view reject``).

Rules (``--rules``, none by default): deterministic checks applied on top of the thresholds, the trivial
baseline a reviewer asks for first and, on our real LLM candidates, a stronger filter than any verifier we
trained (docs/results.md, experiment 3). ``schema``: the relation must be a relation of the row's lexicon
(``out_of_schema`` otherwise); ``mentions``: head and tail must occur verbatim in the text
(``mention_not_in_text``). Every row is still scored, so rule-rejected rows keep their S_st and S_tt for
evaluation; a rule's reason takes precedence over a threshold's.

Streaming: rows are read in chunks that end on document boundaries (so a group's rows stay together), each
distinct text is encoded once per batch, and outputs go to temp files renamed at the end, so memory is flat
in the number of candidates and a failed run (e.g. a malformed line) leaves nothing partial.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from verifier.config import ConfigError, StageConfig
from verifier.decision import DecisionModel, MissingView, Thresholds, thresholds_path
from verifier.io import InputError, atomic_writer, dumps, iter_json_lines, parse_record
from verifier.lexicon import Lexicon
from verifier.model.inputs import Pairs, find_all
from verifier.schema import Candidate, Evidence, ScoredCandidate, Triple

if TYPE_CHECKING:
    from verifier.model.registry import Verifier

log = logging.getLogger(__name__)

ViewSource = Literal["auto", "group", "lexicon"]
Rule = Literal["schema", "mentions"]


class FilterConfig(StageConfig):
    section = "filter"

    input: str = ""
    """Candidate JSONL to filter."""
    model: str = ""
    """Trained verifier directory (runs/x/best)."""
    out: str = "kept.jsonl"
    """Kept rows (JSONL, each with its scores and decision)."""
    rejected: str | None = None
    """Also write the rejected rows here."""
    tau1: float | None = Field(None, ge=-1, le=1)
    """Threshold on p_correct (decision gate) or S_st (paper gate); default: the calibrated one beside the model.
    Given, it replaces the per-relation thresholds too."""
    tau2: float | None = Field(None, ge=-1, le=1)
    """Triple-triple (S_tt) threshold; default: the calibrated one (off in a decision.json)."""
    view_source: ViewSource = "auto"
    """Where the paraphrased view for S_tt comes from: the row's group (its positive), the lexicon, or auto
    (the group when the row has one, else the lexicon)."""
    s_tt: Literal["gate", "always"] = "gate"
    """When S_tt is computed: ``gate``, only when the gate uses it (a tau2 is set: the paper's gate or an explicit
    --tau2; a ``decision.json`` gate has none, and then every row's ``s_tt`` is null); ``always``, for every row
    with a view. Each view is one more forward pass: the decision gate's filter runs about 1.5x faster without
    them (docs/results.md section 0b)."""
    missing_view: MissingView = "pass"
    """A row without a view (no S_tt) when tau2 is set: pass the S_tt test, or reject."""
    lexicon: str | None = None
    """Dataset whose relation lexicon builds views (default: duie for Chinese rows, none otherwise)."""
    batch_size: int = Field(64, ge=1)
    """Candidates per forward pass."""
    chunk_size: int = Field(4096, ge=1)
    """Rows read at a time (memory bound)."""
    gate: Literal["decision", "paper"] = "decision"
    """decision: ``decision.json`` beside the model when present (``verifier calibrate --decision``), keeping rows
    whose calibrated ``p_correct`` >= tau1 (and S_tt >= tau2 only when set); without the file, or with ``paper``:
    the paper's gate on the raw similarities, S_st >= tau1 and S_tt >= tau2 (``thresholds.json``)."""
    repair: bool = True
    """Canonicalise extracted triples (role ``candidate``) before scoring: relation synonyms and inverses onto the
    schema, entities onto the text's spelling (verifier.repair); the row keeps ``original`` and ``repairs``."""
    orient: bool | None = None
    """Score both directions of each extracted triple and keep the better one (``verifier.orient``). None: as the
    ``decision.json`` beside the model was fitted (its ``orient_margin``); off for the paper gate."""
    orient_margin: float | None = Field(None, ge=0)
    """S_st by which the reversed triple must win; default: the decision's, else ``verifier.orient.DEFAULT_MARGIN``."""
    dedupe: bool = True
    """Reject (``duplicate``) an extracted row when a better-scored row of its document is the same triple."""
    rules: list[Rule] = Field(default_factory=list)
    """Also reject rows whose relation is outside the lexicon (schema) or whose head or tail is not in the
    text verbatim (mentions)."""
    evidence: bool = True
    """Compute the most-attended text span (cross-attention) for every row."""
    device: str | None = None
    """cpu, cuda, cuda:1 (default: cuda when available)."""
    progress: bool = True
    """A progress bar on stderr."""


def resolve_gate(cfg: FilterConfig) -> tuple[Thresholds, DecisionModel | None]:
    """The gate ``cfg`` asks for: ``decision.json``'s (p_correct) when ``--gate decision`` and the file exists,
    else ``thresholds.json``'s (S_st, S_tt); explicit --tau1/--tau2 override either."""
    decision = DecisionModel.load(cfg.model) if cfg.gate == "decision" else None
    if decision is not None:
        return decision.thresholds.override(cfg.tau1, cfg.tau2), decision
    thr = Thresholds.load(cfg.model)
    if thr is None:
        if cfg.tau1 is None or cfg.tau2 is None:
            raise ConfigError(
                f"--tau1/--tau2 not given and no {thresholds_path(cfg.model)} (run `verifier calibrate` first)"
            )
        thr = Thresholds(tau1=cfg.tau1, tau2=cfg.tau2)
    return thr.override(cfg.tau1, cfg.tau2, cfg.missing_view), None


def rule_reason(row: Candidate, rules: list[Rule], lexicon: Lexicon | None) -> str | None:
    """The first rule ``row`` breaks (``out_of_schema`` / ``mention_not_in_text``), None when it passes all."""
    if "schema" in rules and lexicon is None:
        raise ConfigError(
            f"--rules schema: no relation lexicon for {row.lang!r} rows (doc {row.doc_id}); give --lexicon"
        )
    if "schema" in rules and row.triple.relation not in lexicon.relations:  # type: ignore[union-attr]
        return "out_of_schema"
    if "mentions" in rules and (row.triple.head not in row.text or row.triple.tail not in row.text):
        return "mention_not_in_text"
    return None


def lexicon_view(t: Triple, lexicon: Lexicon | None) -> Triple | None:
    """A positive view from the lexicon: first synonym, else the inverse with head and tail exchanged."""
    entry = lexicon.relations.get(t.relation) if lexicon else None
    if entry is None:
        return None
    if entry.synonyms:
        return t.model_copy(update={"relation": entry.synonyms[0]})
    if entry.inverses:
        return t.model_copy(
            update={
                "head": t.tail,
                "tail": t.head,
                "relation": entry.inverses[0],
                "head_type": t.tail_type,
                "tail_type": t.head_type,
            }
        )
    return None


def group_views(rows: list[Candidate]) -> list[Triple | None]:
    """The paired view of each row inside its group (positive for anchors/negatives, anchor for positives)."""
    pos: dict[str, Triple] = {}
    anc: dict[str, Triple] = {}
    for r in rows:
        if r.group_id is None:
            continue
        if r.role == "positive":
            pos.setdefault(r.group_id, r.triple)
        elif r.role == "anchor":
            anc.setdefault(r.group_id, r.triple)
    out: list[Triple | None] = []
    for r in rows:
        if r.group_id is None or r.role == "candidate":
            out.append(None)
        elif r.role == "positive":
            out.append(anc.get(r.group_id))
        else:
            out.append(pos.get(r.group_id))
    return out


def choose_views(
    rows: list[Candidate], source: ViewSource | None, lexicons: dict[str, Lexicon | None]
) -> list[Triple | None]:
    """Each row's view for S_tt (see the module docstring); ``source`` None: no views (S_tt is not scored)."""
    if source is None:
        return [None] * len(rows)
    grp = group_views(rows) if source in ("auto", "group") else [None] * len(rows)
    out: list[Triple | None] = []
    for r, g in zip(rows, grp, strict=True):
        if g is not None or source == "group":
            out.append(g)
        else:
            out.append(lexicon_view(r.triple, lexicons.get(r.lang)))
    return out


_SCORED_ONLY = set(ScoredCandidate.model_fields) - set(Candidate.model_fields)


def read_candidates(path: str | os.PathLike[str]) -> Iterator[Candidate]:
    """Validated candidate rows. A row of a filter's own output (it has ``s_st`` and ``decision``) is read back
    as the candidate it was, its generator's triple restored where repair changed it, so filtering ``kept.jsonl``
    again with other thresholds scores exactly the rows the first run kept, and repairs them the same way."""
    for lineno, obj in iter_json_lines(path):
        if isinstance(obj, dict) and {"s_st", "decision"} <= obj.keys():
            sc = parse_record(ScoredCandidate, obj, path, lineno)
            row = sc.model_dump(exclude=_SCORED_ONLY)
            if sc.original is not None:
                row["triple"] = sc.original.model_dump()
            yield Candidate.model_validate(row)
        else:
            yield parse_record(Candidate, obj, path, lineno)


def iter_chunks(path: str | os.PathLike[str], chunk_size: int) -> Iterator[list[Candidate]]:
    """Validated rows in chunks of about ``chunk_size`` that end where the document changes."""
    chunk: list[Candidate] = []
    for row in read_candidates(path):
        if len(chunk) >= chunk_size and row.doc_id != chunk[-1].doc_id:
            yield chunk
            chunk = []
        chunk.append(row)
    if chunk:
        yield chunk


class Scorer:
    """Scores candidate batches with a loaded verifier (CACRE or BCE) and builds evidence."""

    def __init__(self, model: Verifier, model_dir: str, evidence: bool = True) -> None:
        self.model = model
        self.model_dir = model_dir
        self.evidence = evidence and getattr(model, "cross", None) is not None

    def score(self, rows: list[Candidate], views: list[Triple | None]) -> tuple[np.ndarray, np.ndarray, list[Evidence]]:
        import torch

        from verifier.model.cacre import attention_evidence

        texts = [r.text for r in rows]
        s_st, s_tt, pv = self.model.score_pairs(Pairs.of(rows, views), with_attention=self.evidence)
        evid = []
        offsets: dict[str, list[tuple[int, int]]] = {}
        if self.evidence and pv is not None:
            uniq = list(dict.fromkeys(texts))
            enc = self.model.encoder.tokenizer(
                uniq, truncation=True, max_length=self.model.config.text_window(False), return_offsets_mapping=True
            )
            offsets = {t: [tuple(o) for o in enc["offset_mapping"][i]] for i, t in enumerate(uniq)}
        for i, r in enumerate(rows):
            span = None
            if self.evidence and pv is not None:
                offs = offsets[r.text]
                lt = len(offs)
                with torch.no_grad():
                    span = attention_evidence(pv.w_r[i][:, :lt], pv.m_t[i][:lt], pv.m_r[i], offs)
            evid.append(
                Evidence(
                    head_offsets=find_all(r.text, r.triple.head),
                    tail_offsets=find_all(r.text, r.triple.tail),
                    attention_span=span,
                    attention_text=r.text[span[0] : span[1]] if span else None,
                )
            )
        return s_st, s_tt, evid


@dataclass
class ScoredChunk:
    """Rows of a chunk as scored: the (repaired, perhaps turned-around) rows, what repair replaced, S_st, S_tt (NaN:
    no view) and evidence, index-aligned."""

    rows: list[Candidate]
    originals: list[tuple[Triple | None, list[str]]]
    s_st: np.ndarray  # (N,)
    s_tt: np.ndarray  # (N,)
    evidence: list[Evidence]


def score_chunk(
    scorer: Scorer,
    rows: list[Candidate],
    views: list[Triple | None],
    originals: list[tuple[Triple | None, list[str]]],
    batch_size: int,
    on_batch: Callable[[int], object] | None = None,
) -> ScoredChunk:
    """Score ``rows`` in batches of ``batch_size`` (``on_batch(n)`` after each: a progress bar)."""
    s1, s2, ev = [], [], []
    for i in range(0, len(rows), batch_size):
        a, b, e = scorer.score(rows[i : i + batch_size], views[i : i + batch_size])
        s1.append(np.asarray(a, dtype=float))
        s2.append(np.asarray(b, dtype=float))
        ev += e
        if on_batch is not None:
            on_batch(len(e))
    empty = np.zeros(0)
    return ScoredChunk(
        list(rows),
        list(originals),
        np.concatenate(s1) if s1 else empty,
        np.concatenate(s2) if s2 else empty,
        ev,
    )


@dataclass
class ReversedChunk:
    """The reversed triples of a chunk's extracted rows, scored: ``idx`` their rows' positions in the chunk."""

    idx: list[int]
    scored: ScoredChunk


def score_reversed(
    scorer: Scorer,
    rows: list[Candidate],
    lexicons: dict[str, Lexicon | None],
    view_source: ViewSource | None = "auto",
    batch_size: int = 64,
    on_batch: Callable[[int], object] | None = None,
) -> ReversedChunk:
    """Score the reversed triple (``Triple.reversed``) of every extracted (role ``candidate``) row (``view_source``
    None: no S_tt; ``on_batch`` as in :func:`score_chunk`)."""
    idx = [i for i, r in enumerate(rows) if r.role == "candidate"]
    rev = [rows[i].model_copy(update={"triple": rows[i].triple.reversed(), "label": None}) for i in idx]
    views = choose_views(rev, view_source, lexicons)
    scored = score_chunk(scorer, rev, views, [(None, [])] * len(rev), batch_size, on_batch)
    return ReversedChunk(idx, scored)


def apply_orientation(sc: ScoredChunk, rev: ReversedChunk, margin: float) -> int:
    """Where ``verifier.orient.choose`` prefers the reversed triple, put it in the row's place in ``sc`` (in place;
    ``original`` keeps the extractor's triple, ``repairs`` gains ``direction:verifier``). Returns how many rows
    were turned around."""
    from verifier import orient

    if not rev.idx:
        return 0
    flip = orient.choose(sc.s_st[rev.idx], rev.scored.s_st, margin)  # (len(idx),)
    for j in np.flatnonzero(flip).tolist():
        i = rev.idx[j]
        orig, fixes = sc.originals[i]
        sc.originals[i] = (orig or sc.rows[i].triple, [*fixes, orient.CHANGE])
        sc.rows[i] = rev.scored.rows[j]
        sc.s_st[i], sc.s_tt[i] = rev.scored.s_st[j], rev.scored.s_tt[j]
        sc.evidence[i] = rev.scored.evidence[j]
    return int(flip.sum())


def duplicate_rows(rows: list[Candidate], score: np.ndarray) -> np.ndarray:
    """(N,) bool: extracted rows of which a better-scored row of the same document is the same triple."""
    from verifier import orient

    keys = [
        (r.doc_id, r.triple.head, r.triple.relation, r.triple.tail) if r.role == "candidate" else None for r in rows
    ]
    return orient.duplicates(keys, score)


def orient_margin(cfg: FilterConfig, decision: DecisionModel | None) -> float | None:
    """The orientation margin this run uses, None when it does not turn triples around: ``--orient`` / ``--no-orient``
    when given, else as ``decision.json`` was fitted (off for the paper gate)."""
    from verifier.orient import DEFAULT_MARGIN

    fitted = decision.orient_margin if decision is not None else None
    on = cfg.orient if cfg.orient is not None else fitted is not None
    if not on:
        return None
    return next(m for m in (cfg.orient_margin, fitted, DEFAULT_MARGIN) if m is not None)


def load_for_inference(model_dir: str, device: str | None = None) -> Any:
    import torch

    from verifier.model.registry import load_verifier

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.device(dev).type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {dev}: this machine has no CUDA device (use --device cpu)")
    return load_verifier(model_dir).to(dev).eval()


def default_lexicons(name: str | None) -> dict[str, Lexicon | None]:
    from verifier.lexicon import lexicon_for

    if name:
        lex = lexicon_for(name)
        return {lex.lang: lex, "zh" if lex.lang == "en" else "en": None}
    return {"zh": lexicon_for("duie"), "en": None}


def count_valid_rows(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Validate every row of ``path`` before the model loads or anything is scored, and count them and the
    extracted (role ``candidate``) ones among them: a bad line at the end of a large file is found in seconds, not
    after an hour of scoring (and the bar knows its total)."""
    n = extracted = 0
    for row in read_candidates(path):
        n += 1
        extracted += row.role == "candidate"
    if n == 0:
        raise InputError(path, 1, "record", "no candidate rows (the file is empty)")
    return n, extracted


class FilterSummary(BaseModel):
    """What one filter run did (written as ``<out>.summary.json``)."""

    model_config = ConfigDict(extra="forbid")

    input: str
    model: str
    gate: str
    """The gate applied: ``decision.json (p_correct)`` or ``thresholds (S_st, S_tt)``."""
    tau1: float
    tau2: float | None
    """None: the S_tt gate is off."""
    per_relation_tau1: int
    """Relations with their own calibrated tau1."""
    rows: int
    kept: int
    turned_around: int = 0
    """Extracted rows whose reversed triple scored better and replaced them (``--orient``)."""
    rejected: dict[str, int]
    """Rejected rows by reason."""
    wall_s: float
    triples_per_s: float | None


def run_filter(cfg: FilterConfig, model: Any | None = None) -> FilterSummary:
    """Filter ``cfg.input`` into ``cfg.out`` (and ``cfg.rejected``); returns the summary."""
    from tqdm.auto import tqdm

    if not cfg.input or not cfg.model:
        raise ConfigError("--model and an input file are required")
    named = {"input": cfg.input, "--out": cfg.out, "--rejected": cfg.rejected}
    paths = {k: Path(v).resolve() for k, v in named.items() if v}
    for x, y in (("--out", "input"), ("--rejected", "input"), ("--rejected", "--out")):
        if x in paths and y in paths and paths[x] == paths[y]:
            raise ConfigError(f"{x} {named[x]} is the same file as {y}: it would be overwritten (nothing was written)")
    thresholds, decision = resolve_gate(cfg)
    total, extracted = count_valid_rows(cfg.input)
    model = model if model is not None else load_for_inference(cfg.model, cfg.device)
    scorer = Scorer(model, cfg.model, cfg.evidence)
    lexicons = default_lexicons(cfg.lexicon)
    indexes = relation_indexes(lexicons) if cfg.repair else {}
    schema = schema_of(lexicons) if decision is not None else None  # once per run, not per batch
    margin = orient_margin(cfg, decision)
    need_tt = cfg.s_tt == "always" or thresholds.tau2 is not None
    view_source = cfg.view_source if need_tt else None  # None: no views, S_tt is not scored
    counts: Counter[str] = Counter()
    t0 = time.perf_counter()
    rej_ctx = atomic_writer(cfg.rejected) if cfg.rejected else None
    with atomic_writer(cfg.out) as kept_fh:
        rej_fh = rej_ctx.__enter__() if rej_ctx else None
        passes = total + (extracted if margin is not None else 0)  # the reversed triples are scored too
        bar = tqdm(total=passes, desc="filter", unit="triple", disable=not cfg.progress, dynamic_ncols=True)
        try:
            for chunk in iter_chunks(cfg.input, cfg.chunk_size):
                originals: list[tuple[Triple | None, list[str]]] = [(None, [])] * len(chunk)
                if cfg.repair:
                    chunk, originals = repair_rows(chunk, lexicons, indexes)
                views = choose_views(chunk, view_source, lexicons)
                sc = score_chunk(scorer, chunk, views, originals, cfg.batch_size, bar.update)
                if margin is not None:
                    rev = score_reversed(scorer, sc.rows, lexicons, view_source, cfg.batch_size, bar.update)
                    counts["flipped"] += apply_orientation(sc, rev, margin)
                p_ok, why_p = [None] * len(sc.rows), [[] for _ in sc.rows]
                gate_score = sc.s_st
                if decision is not None:
                    x = decision_features(sc.rows, sc.s_st, sc.originals, lexicons, model, schema)
                    gate_score = decision.p_correct(x)
                    p_ok, why_p = gate_score.tolist(), decision.explain(x)
                keep, reasons = thresholds.gate(gate_score, sc.s_tt, [r.triple.relation for r in sc.rows])
                if cfg.dedupe:
                    dup = duplicate_rows(sc.rows, gate_score)
                    reasons = ["duplicate" if d else why for d, why in zip(dup, reasons, strict=True)]
                    keep = keep & ~dup
                if cfg.rules:
                    broken = [rule_reason(r, cfg.rules, lexicons.get(r.lang)) for r in sc.rows]
                    reasons = [b or why for b, why in zip(broken, reasons, strict=True)]
                    keep = keep & np.asarray([b is None for b in broken])
                for r, a, b, k, why, ev, (orig, fixes), p, ex in zip(
                    sc.rows, sc.s_st, sc.s_tt, keep, reasons, sc.evidence, sc.originals, p_ok, why_p, strict=True
                ):
                    out = ScoredCandidate(
                        **r.model_dump(),
                        original=orig,
                        repairs=fixes,
                        p_correct=p,
                        explanation=ex,
                        s_st=float(a),
                        s_tt=None if math.isnan(b) else float(b),
                        decision="keep" if k else "reject",
                        reason=why,
                        evidence=ev,
                        verifier=str(cfg.model),
                    )
                    counts["keep" if k else f"reject:{why}"] += 1
                    if k:
                        kept_fh.write(dumps(out) + "\n")
                    elif rej_fh is not None:
                        rej_fh.write(dumps(out) + "\n")
        except BaseException as e:
            bar.close()  # the error message then starts on its own line
            if rej_ctx:
                rej_ctx.__exit__(type(e), e, e.__traceback__)
            raise
        if rej_ctx:
            rej_ctx.__exit__(None, None, None)
    bar.close()
    flipped = counts.pop("flipped", 0)
    n = sum(counts.values())
    wall = time.perf_counter() - t0
    return FilterSummary(
        input=cfg.input,
        model=cfg.model,
        gate="decision.json (p_correct)" if decision is not None else "thresholds (S_st, S_tt)",
        tau1=thresholds.tau1,
        tau2=thresholds.tau2,
        per_relation_tau1=len(thresholds.per_relation),
        rows=n,
        kept=counts["keep"],
        turned_around=flipped,
        rejected={k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("reject:")},
        wall_s=round(wall, 3),
        triples_per_s=round(n / wall, 1) if wall else None,
    )


def is_probability(model: Any) -> bool:
    """Whether the model's S_st is a probability (BCE, late fusion's pointwise score) rather than a cosine."""
    cfg = getattr(model, "config", None)
    return getattr(cfg, "model_type", None) == "bce" or getattr(cfg, "score", None) == "pointwise"


def schema_of(lexicons: dict[str, Lexicon | None]) -> dict[str, tuple[str | None, frozenset[str]]] | None:
    """Every relation of the run's lexicons with its subject type and object types (None: no lexicon, every
    relation counts as inside)."""
    out = {
        r: (e.subject_type, frozenset(e.object_type.values()))
        for lex in lexicons.values()
        if lex is not None
        for r, e in lex.relations.items()
    }
    return out or None


def decision_features(
    rows: list[Candidate],
    s_st: np.ndarray,
    originals: list[tuple[Triple | None, list[str]]],
    lexicons: dict[str, Lexicon | None],
    model: Any,
    schema: dict[str, tuple[str | None, frozenset[str]]] | None = None,
) -> np.ndarray:
    """The grounding features of ``verifier.decision`` for scored (and repaired) rows; ``schema``: ``schema_of
    (lexicons)`` when the caller built it once (the filter, per run), else built here."""
    from verifier.decision import grounding_features

    return grounding_features(
        [r.text for r in rows],
        [r.triple.head for r in rows],
        [r.triple.tail for r in rows],
        [r.triple.relation for r in rows],
        s_st,
        schema if schema is not None else schema_of(lexicons),
        [bool(fixes) for _, fixes in originals],
        is_probability(model),
        [r.triple.head_type for r in rows],
        [r.triple.tail_type for r in rows],
    )


def relation_indexes(lexicons: dict[str, Lexicon | None]) -> dict[str, Any]:
    """One ``verifier.repair.RelationIndex`` per language that has a lexicon (build once per run)."""
    from verifier.repair import RelationIndex

    return {lang: RelationIndex(lex) for lang, lex in lexicons.items() if lex is not None}


def repair_rows(
    rows: list[Candidate], lexicons: dict[str, Lexicon | None], indexes: dict[str, Any] | None = None
) -> tuple[list[Candidate], list[tuple[Triple | None, list[str]]]]:
    """Canonicalise the extracted (role ``candidate``) rows; returns the rows to score and, per row, the original
    triple and the changes (None, [] when nothing changed). ``indexes``: from :func:`relation_indexes`."""
    from verifier.repair import canonicalize

    indexes = indexes if indexes is not None else relation_indexes(lexicons)
    out, originals = [], []
    for r in rows:
        lex = lexicons.get(r.lang)
        if r.role != "candidate" or lex is None:
            out.append(r)
            originals.append((None, []))
            continue
        fix = canonicalize(r.triple, r.text, lex, indexes[r.lang])
        out.append(r.model_copy(update={"triple": fix.triple}) if fix.changes else r)
        originals.append((r.triple if fix.changes else None, fix.changes))
    return out, originals


def score_rows(
    model: Any,
    rows: list[Candidate],
    view_source: ViewSource | None = "auto",
    lexicon: str | None = None,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """S_st and S_tt for in-memory rows (calibration, probes); ``view_source`` None: S_st only (S_tt all NaN)."""
    lexicons = default_lexicons(lexicon)
    sc = score_chunk(
        Scorer(model, "", evidence=False), rows, choose_views(rows, view_source, lexicons), [(None, [])] * len(rows),
        batch_size,
    )  # fmt: skip
    return sc.s_st, sc.s_tt
