#!/bin/bash
# Rule 16 (docs/results/zsre25/rule16.txt): V7's saved m = 10 models averaged with SDZRE-MiniLM's of the same split,
# then the decision on choice_val_f1 alone. Waits for the clean-clone CI run to finish (never two heavy jobs).
cd /work/main && . .venv/bin/activate
while ! grep -q "^rc=" runs/z25/ci.log 2>/dev/null; do sleep 15; done
S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models sdzre:no_contrastive --seeds 40 41 42 43 44"
W="--pseudo-rounds 3 --synthetic runs/z22/synth_fewrel_x2.jsonl"
[ -f runs/z25/ens_m10.done ] || { python -m bench.zsre --ms 10 $S $V $W --val-folds 2 --marker-init punct \
  --choice-val-per-relation 300 --reuse-trained runs/z22/v7f_m10 --ensemble-with runs/z25/mini_m10 \
  --out runs/z25/ens_m10 > runs/z25/ens_m10.log 2>&1 && date > runs/z25/ens_m10.done; }
python -m experiments.zsre_paired --val-only --figure choice_val_f1 --bar 0.010 2 --pairs 10 \
  runs/z24/v7_fresh_m10 runs/z25/ens_m10 > runs/z25/decision16.auto 2>&1
date > runs/z25/q3.done
