#!/bin/bash
# Rule 17 (docs/results/zsre26/rule17.txt): V7's 20 saved m = 10 models averaged with V12's of the same split, then
# the decision on choice_val_f1 alone, applied mechanically. Resumable: a finished folder is skipped.
cd /work/main && . .venv/bin/activate
S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models sdzre:no_contrastive --seeds 40 41 42 43 44"
W="--pseudo-rounds 3 --synthetic runs/z22/synth_fewrel_x2.jsonl"
R="--val-folds 2 --marker-init punct --choice-val-per-relation 300"
[ -f runs/z26/e712_m10.done ] || { python -m bench.zsre --ms 10 $S $V $W $R --reuse-trained runs/z22/v7f_m10 \
  --ensemble-with runs/z24/v11_m10 --out runs/z26/e712_m10 > runs/z26/e712_m10.log 2>&1 \
  && date > runs/z26/e712_m10.done; }
[ -f runs/z26/e712_more_m10.done ] || { python -m bench.zsre --ms 10 $S $V $W $R --seeds 45 46 47 48 49 \
  --reuse-trained runs/z24/v7_more_m10 --ensemble-with runs/z24/v12_more_m10 --out runs/z26/e712_more_m10 \
  > runs/z26/e712_more_m10.log 2>&1 && date > runs/z26/e712_more_m10.done; }
python -m experiments.zsre_paired --val-only --figure choice_val_f1 --bar 0.010 2.5 --pairs 20 \
  runs/z24/v7_fresh_m10,runs/z24/v7_more_m10 runs/z26/e712_m10,runs/z26/e712_more_m10 > runs/z26/decision17.auto 2>&1
date > runs/z26/q1.done
