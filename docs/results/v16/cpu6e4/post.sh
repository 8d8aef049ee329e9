#!/usr/bin/env bash
# After the four-epoch run (runs/v16/cpu6e4): the choice set, the rule of rule.txt, and only if it holds the
# test sets and the decision. Run from the repository root: bash docs/results/v16/cpu6e4/post.sh
set -euo pipefail
D=docs/results/v16/cpu6e4
M=runs/v16/cpu6e4/best
R=runs/results/e4
mkdir -p "$R"
while [ ! -s runs/v16/cpu6e4/summary.json ]; do sleep 30; done
cp runs/v16/cpu6e4/summary.json runs/v16/cpu6e4/train_log.jsonl "$D/"
cp runs/v16/cpu6e4.time "$D/time.txt" 2>/dev/null || true
bash experiments/rebuild_v16.sh choice   # this session it stopped here: generate exits 1 when documents fail (8 did); the merge and the lines below up to the rule were then run by hand, and the rule said KEEP
python -m experiments.verify_real --candidates runs/v16/calib2/all/candidates.jsonl --gold runs/v16/calib2/all/gold.jsonl \
  --models cpu6e4=$M --out "$R/choice"
cp "$R/choice/metrics.json" "$D/choice_calib2_metrics.json"
python - "$D/choice_calib2_metrics.json" "$D/summary.json" > "$D/rule_check.txt" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["cpu6e4"]
s = json.load(open(sys.argv[2]))
a, b = m["soft"]["auc_all"], m["soft"]["auc_in_schema"]
c = s["epochs_completed"] >= 4
print(f"candidates {m['candidates']}; soft pooled {a:.4f} (> 0.932: {a > 0.932}); soft in-schema {b:.4f} "
      f"(>= 0.911: {b >= 0.911}); epochs completed {s['epochs_completed']}, steps {s['steps']}, wall_s {s['wall_s']} "
      f"(inside 110 min: {c})")
print("ADOPT" if a > 0.932 and b >= 0.911 and c else "KEEP THREE EPOCHS")
PY
cat "$D/rule_check.txt"
grep -q '^ADOPT' "$D/rule_check.txt" || exit 0

# adopted: the test sets, read once
python -m experiments.verify_real --groups runs/v16/groups/dev_perturb.jsonl --groups-limit 300 \
  --models cpu6e4=$M --out "$R/typed"
cp "$R/typed/metrics.json" "$D/typed_metrics.json"
mkdir -p runs/results/llm15
[ -s runs/results/llm15/gold.jsonl ] || verifier data export --data duie --split dev --limit 200 --out runs/results/llm15/gold.jsonl
verifier generate --llm local --model qwen2.5-coder-1.5b --prompt extract --data duie --split dev --limit 200 \
  --concurrency 1 --max-tokens 384 --max-tokens-cap 768 --timeout-s 900 --max-attempts 2 \
  --out runs/results/llm15/candidates.jsonl
python -m experiments.verify_real --candidates runs/results/llm15/candidates.jsonl --gold runs/results/llm15/gold.jsonl \
  --models cpu6e4=$M --out "$R/test15"
cp "$R/test15/metrics.json" "$D/verify_metrics.json"
# the decision: fit on the choice set only, then filter + eval the 1.5B test set
K=runs/v16/cpu6e4_dec
mkdir -p $K/model $D/decision
for f in config.json encoder model.safetensors; do ln -sfn "$PWD/$M/$f" "$K/model/$f"; done
verifier calibrate --model $K/model --val runs/v16/calib2/all/candidates.jsonl --gold runs/v16/calib2/all/gold.jsonl \
  --decision --label-mode soft | tee "$D/decision/calibrate.txt"
cp $K/model/decision.json "$D/decision/"
verifier filter runs/results/llm15/candidates.jsonl --model $K/model --out $K/kept.jsonl --rejected $K/rejected.jsonl \
  | tee "$D/decision/filter.txt"
for mode in soft strict; do
  verifier eval --pred $K/kept.jsonl --gold runs/results/llm15/gold.jsonl --candidates $K/kept.jsonl $K/rejected.jsonl \
    --label-mode $mode --out $K/eval_$mode
  cp $K/eval_$mode/metrics.json "$D/decision/eval_${mode}_metrics.json"
done
echo done
