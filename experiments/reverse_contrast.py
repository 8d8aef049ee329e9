"""Does contrasting a triple with its own reverse make scores comparable across texts? Pooled AUC with and without.

Head/tail swap is the typed kind closest to its target (0.897 against 0.90, docs/results.md section 0), and the
model orders a triple and its reverse within one text far better than it ranks them across texts. The reverse is a
label-free reference the filter can always build: score'(t, h r x) = s(t, h r x) - lambda * s(t, x r h). Within
one text the ordering of a triple and its own reverse is unchanged for every lambda > -1; across texts the
text's level cancels in part. Nothing here fits anything; the rule that decides is in
docs/results/v16/reverse/rule.txt (the choice set and held-out train groups choose; test sets are read after).

    python -m experiments.reverse_contrast --model runs/v16/cpu6e3/best --groups runs/v16/groups/val300.jsonl \
        --out runs/results/reverse/val300
    python -m experiments.reverse_contrast --model runs/v16/cpu6e3/best --candidates C/candidates.jsonl \
        --gold C/gold.jsonl --out runs/results/reverse/choice
"""

from __future__ import annotations

import json

import numpy as np

from experiments.text_baseline import load_scoring, report, scoring_parser, write_metrics
from verifier.model.inputs import Pairs

LAMBDAS = (0.5, 1.0)


def main() -> None:
    args = scoring_parser(__doc__.splitlines()[0]).parse_args()
    model, rows, labels, kinds = load_scoring(args)
    texts, langs = [r.text for r in rows], [r.lang for r in rows]
    s, _, _ = model.score_pairs(Pairs(texts=texts, triples=[r.triple for r in rows], langs=langs))  # (N,)
    s_rev, _, _ = model.score_pairs(
        Pairs(texts=texts, triples=[r.triple.reversed() for r in rows], langs=langs)
    )  # (N,)
    s, s_rev = np.asarray(s, dtype=float), np.asarray(s_rev, dtype=float)
    variants = {"raw": s, **{f"minus_{lam:g}_reverse": s - lam * s_rev for lam in LAMBDAS}}
    res = {"rows": len(rows), **report(rows, labels, variants, kinds)}
    write_metrics(args.out, res)
    print(json.dumps({k: {m: v[m]["pooled"] for m in v} for k, v in res.items() if k in variants}, indent=1))


if __name__ == "__main__":
    main()
