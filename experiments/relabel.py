"""Can the verifier also fix a candidate's relation? Cross-validated on calibration candidates only.

After repair and the verifier's choice of direction (``verifier.orient``), the largest pool of recoverable errors
is a right entity pair under a wrong relation: 111 of the 1,016 held-out 1.5B calibration candidates, 80 of them
with a relation outside the schema that the lexicon does not map. Scoring all 48 DuIE relations in both
directions for every candidate would cost 96 forward passes each, so the alternatives are the ``--k`` schema
relations nearest to the extractor's relation name (mean-pooled e5 embeddings of ``query: name`` against
``passage: relation: description``), each in both directions. The gold relation is among the 5 nearest for 67 of
those 111 candidates with the base e5-small, 55 with the verifier's own fine-tuned encoder.

Policies (each then evaluated as ``experiments.orientation`` does: duplicates dropped, labelled against gold,
grounding features, the decision refitted on document halves, F1 against the other half's gold):

- ``orient``: the shipped behaviour (direction by the verifier, margin 0.2);
- ``relabel oos``: a row whose relation is outside the schema takes its best-scored alternative (it is wrong as
  written anyway); in-schema rows are only turned around;
- ``relabel all, margin m``: besides those, an in-schema row takes its best alternative when it beats the row's own
  (oriented) score by m.

    python -m experiments.relabel --model runs/v16/cpu6r2/best --val runs/v16/calib2/all/candidates.jsonl \
        --gold runs/v16/calib2/all/gold.jsonl --out runs/results/relabel.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from experiments.common import calibration_parser
from experiments.orientation import dedupe, evaluate


def nearest_relations(names: list[str], lexicon: Any, k: int, encoder_name: str) -> dict[str, list[str]]:
    """For each relation name, the ``k`` schema relations nearest by mean-pooled e5 embedding (itself excluded)."""
    import torch

    from verifier.model.encoder import TextEncoder

    enc = TextEncoder.from_name(encoder_name).eval()
    rels = list(lexicon.relations)

    def embed(xs: list[str]) -> torch.Tensor:
        out = []
        for i in range(0, len(xs), 64):
            b = enc.tokenize(xs[i : i + 64], 64)
            with torch.no_grad():
                h = enc(b["input_ids"], b["attention_mask"])  # (B, L, H)
            m = b["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1))  # (B, H)
        return torch.cat(out)

    schema = embed([f"passage: {r}：{lexicon.relations[r].description}" for r in rels])  # (R, H)
    uniq = sorted(set(names))
    q = embed([f"query: {n}" for n in uniq])  # (U, H)
    order = (q @ schema.T).argsort(dim=1, descending=True).tolist()  # (U, R)
    return {n: [rels[j] for j in row if rels[j] != n][:k] for n, row in zip(uniq, order, strict=True)}


def main() -> None:
    ap = calibration_parser(__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--encoder", default="e5-small", help="encoder whose embeddings rank the alternatives")
    ap.add_argument("--margins", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    a = ap.parse_args()
    from verifier import orient
    from verifier.calibration import repaired_labelled_rows
    from verifier.filter import load_for_inference, score_rows
    from verifier.io import read_jsonl
    from verifier.lexicon import lexicon_for
    from verifier.schema import Candidate, GoldRecord

    lex = lexicon_for("duie")
    gold = {g.doc_id: g for g in read_jsonl(a.gold, GoldRecord)}
    rows, originals = repaired_labelled_rows(list(read_jsonl(a.val, Candidate)), gold, a.label_mode, None)
    repaired = np.asarray([bool(f) for _, f in originals])
    model = load_for_inference(a.model, "cpu")
    # the shipped orientation first
    rev = [r.model_copy(update={"triple": r.triple.reversed()}) for r in rows]
    s, _ = score_rows(model, rows, lexicon=None)
    s_rev, _ = score_rows(model, rev, lexicon=None)
    flip = orient.choose(s, s_rev)
    cur = [rv if f else r for r, rv, f in zip(rows, rev, flip, strict=True)]
    cur_s = np.where(flip, s_rev, s)
    near = nearest_relations([r.triple.relation for r in rows], lex, a.k, a.encoder)
    # alternatives: k relations x 2 directions per row
    alt_rows, owner = [], []
    for i, r in enumerate(rows):
        for rel in near[r.triple.relation]:
            t = r.triple.model_copy(update={"relation": rel, "relation_id": None})
            for tt in (t, t.reversed()):
                alt_rows.append(r.model_copy(update={"triple": tt, "label": None}))
                owner.append(i)
    alt_s, _ = score_rows(model, alt_rows, lexicon=None)
    best_alt = np.full(len(rows), -np.inf)
    best_idx = np.full(len(rows), -1)
    for j, i in enumerate(owner):
        if alt_s[j] > best_alt[i]:
            best_alt[i], best_idx[i] = alt_s[j], j
    oos = np.asarray([r.triple.relation not in lex.relations for r in rows])
    report: dict[str, Any] = {"candidates": len(rows), "alternatives scored": len(alt_rows), "k": a.k}

    def run(name: str, take: np.ndarray) -> None:
        chosen = [alt_rows[best_idx[i]] if take[i] else cur[i] for i in range(len(rows))]
        score = np.where(take, best_alt, cur_s)
        idx = dedupe(chosen, score)
        rep = (repaired | flip | take)[idx].tolist()
        res = evaluate([chosen[i] for i in idx], score[idx], rep, gold, a, model) | {"relabelled": int(take.sum())}
        report[name] = res
        print(name, json.dumps({k: v for k, v in res.items() if k != "f1_folds"}))

    run("orient", np.zeros(len(rows), dtype=bool))
    run("relabel oos", oos & (best_idx >= 0))
    for m in a.margins:
        run(f"relabel all, margin {m}", (best_idx >= 0) & (oos | (best_alt > cur_s + m)))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
