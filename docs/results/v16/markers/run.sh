#!/usr/bin/env bash
# The entity-marker run of rule.txt and its scoring, in order; resumable (each step skipped when its output exists,
# the training resumed with --resume). Run from the repository root: bash docs/results/v16/markers/run.sh
set -uo pipefail
D=docs/results/v16/markers
M=runs/v16/mark
R=runs/results/mark
mkdir -p $R
if [ ! -s $M/summary.json ]; then
  resume=""; [ -d $M/last ] && resume="--resume"
  /usr/bin/time -v -o $M.time verifier train --preset cpu --entity-markers --candidates runs/v16/groups/train_split.jsonl \
    --val runs/v16/groups/val300.jsonl --out $M $resume > $M.log 2>&1 || { echo "training failed: $M.log"; exit 1; }
fi
cp $M/train_log.jsonl $M/summary.json $D/ && cp $M.time $D/time.txt
[ -s $R/val300/metrics.json ] || python -m experiments.verify_real --groups runs/v16/groups/val300.jsonl \
  --models mark=$M/best --out $R/val300
[ -s $R/choice/metrics.json ] || python -m experiments.verify_real --candidates runs/v16/calib2/all/candidates.jsonl \
  --gold runs/v16/calib2/all/gold.jsonl --models mark=$M/best --out $R/choice
cp $R/val300/metrics.json $D/val300_metrics.json && cp $R/choice/metrics.json $D/choice_calib2_metrics.json
python - <<'PY' | tee $D/rule_check.txt
import json
D = "docs/results/v16/markers"
v = json.load(open(f"{D}/val300_metrics.json"))["typed"]["mark"]
c = json.load(open(f"{D}/choice_calib2_metrics.json"))["mark"]["soft"]
s = json.load(open(f"{D}/summary.json"))
print(f"val300 soft pooled gold text AUC {v['gold_text_auc_soft']:.4f} (rule: >= 0.893); by kind "
      + ", ".join(f"{k} {a:.3f}" for k, a in v["per_corruption"].items()))
print(f"choice set soft {c['auc_all']:.4f} (>= 0.927) / in-schema {c['auc_in_schema']:.4f} (>= 0.911) / within "
      f"documents {c['auc_within_doc']:.4f}")
print("summary:", {k: s[k] for k in list(s)[:12]})
ok = v["gold_text_auc_soft"] >= 0.893 and c["auc_all"] >= 0.927 and c["auc_in_schema"] >= 0.911
print("(c) steps inside max_minutes: see summary above and time.txt")
print("ADOPT markers (if (c) holds)" if ok else "NOT ADOPTED")
PY
git add $D && git commit -qm "results: entity markers, the rule check (before any test figure)" -- $D || true
# Then, either way, the test sets once: 580 1.5B candidates of 200 dev sentences and the dev typed groups.
[ -s $R/test/metrics.json ] || python -m experiments.verify_real --candidates runs/results/llm15/candidates.jsonl \
  --gold runs/results/llm15/gold.jsonl --groups runs/v16/groups/dev_perturb.jsonl --groups-limit 300 \
  --models mark=$M/best --out $R/test
cp $R/test/metrics.json $D/verify_metrics.json
