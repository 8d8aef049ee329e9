#!/usr/bin/env bash
# The calibrated decision of the entity-marker model: fitted on the 996-candidate choice set (held-out train
# documents), then the filter and `verifier eval` on the 580 test candidates. Run after run.sh, from the root.
set -euo pipefail
D=docs/results/v16/markers/decision
M=runs/v16/mark_dec
K=runs/results/mark/dec
mkdir -p $D $M $K
for f in config.json encoder model.safetensors; do ln -sfn "$(realpath runs/v16/mark/best/$f)" $M/$f; done
verifier calibrate --model $M --val runs/v16/calib2/all/candidates.jsonl --gold runs/v16/calib2/all/gold.jsonl \
  --decision --label-mode soft 2>&1 | tail -1 | tee $D/calibrate.txt
cp $M/decision.json $D/
verifier filter runs/results/llm15/candidates.jsonl --model $M --out $K/kept.jsonl --rejected $K/rejected.jsonl \
  2>&1 | tail -1 | tee $D/filter.txt
for mode in soft strict; do
  verifier eval --pred $K/kept.jsonl --gold runs/results/llm15/gold.jsonl --candidates $K/kept.jsonl $K/rejected.jsonl \
    --label-mode $mode --out $K/eval_$mode | tail -3
  cp $K/eval_$mode/metrics.json $D/eval_${mode}_metrics.json
done
