#!/usr/bin/env bash
# The text-window test of rule.txt, on the four-epoch model, after docs/results/v16/cpu6e4/post.sh has scored the
# choice set. Run from the repository root: bash docs/results/v16/window/run.sh
set -euo pipefail
D=docs/results/v16/window
M=runs/v16/cpu6e4/best
R=runs/results/window
while [ ! -s runs/results/e4/choice/metrics.json ]; do sleep 30; done
for w in 96 128 192; do
  [ -s $R/choice_$w/metrics.json ] || python -m experiments.verify_real --candidates runs/v16/calib2/all/candidates.jsonl \
    --gold runs/v16/calib2/all/gold.jsonl --models w$w=$M --max-text-length $w --out $R/choice_$w
  [ -s $R/val300_$w/metrics.json ] || python -m experiments.verify_real --groups runs/v16/groups/val300.jsonl \
    --models w$w=$M --max-text-length $w --out $R/val300_$w
  cp $R/choice_$w/metrics.json $D/choice_w${w}_metrics.json
  cp $R/val300_$w/metrics.json $D/val300_w${w}_metrics.json
done
python - <<'PY' | tee $D/rule_check.txt
import json
D = "docs/results/v16/window"
c = {w: json.load(open(f"{D}/choice_w{w}_metrics.json"))[f"w{w}"] for w in (96, 128, 192)}
v = {w: json.load(open(f"{D}/val300_w{w}_metrics.json"))["typed"][f"w{w}"] for w in (96, 128, 192)}
for w in (96, 128, 192):
    s = c[w]["soft"]
    print(f"window {w}: choice soft {s['auc_all']:.4f} / {s['auc_in_schema']:.4f} / {s['auc_within_doc']:.4f}, "
          f"strict {c[w]['strict']['auc_all']:.4f}; {c[w]['candidates_per_s']} cand/s; val300 gold text "
          f"{v[w]['gold_text_auc']:.4f} (within {v[w]['gold_text_auc_within_group']:.4f})")
best = max((128, 192), key=lambda w: c[w]["soft"]["auc_all"])
ok = (c[best]["soft"]["auc_all"] - c[96]["soft"]["auc_all"] >= 0.003
      and c[96]["soft"]["auc_in_schema"] - c[best]["soft"]["auc_in_schema"] <= 0.002
      and v[96]["gold_text_auc"] - v[best]["gold_text_auc"] <= 0.002)
print(f"ADOPT window {best}" if ok else f"KEEP 96 (best other window {best})")
PY
