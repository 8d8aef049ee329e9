#!/bin/bash
# Rule 18 (docs/results/zsre26/rule18.txt): V7 and V12 trained on seeds 50-59 (one seed at a time, V7 then V12;
# a seed with a .done marker is skipped, a seed cut short is rerun from scratch), then the ensembles rescored and the
# decision on choice_val_f1 alone, applied mechanically; the m = 5 runs only if adopted.
cd /work/main && . .venv/bin/activate
S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models sdzre:no_contrastive"
W="--pseudo-rounds 3 --synthetic runs/z22/synth_fewrel_x2.jsonl"
R="--val-folds 2 --marker-init punct --choice-val-per-relation 300"
SEEDS="50 51 52 53 54 55 56 57 58 59"
for s in $SEEDS; do
  [ -f runs/z26/v7_conf_s$s.done ] || { python -m bench.zsre --ms 10 $S $V $W $R --seeds $s \
    --models desc sdzre:no_contrastive --out runs/z26/v7_conf_m10 > runs/z26/v7_conf_s$s.log 2>&1 \
    && date > runs/z26/v7_conf_s$s.done; } || exit 1
  [ -f runs/z26/v12_conf_s$s.done ] || { python -m bench.zsre --ms 10 $S $V $W $R --seeds $s \
    --freeze-encoder-layers 8 --out runs/z26/v12_conf_m10 > runs/z26/v12_conf_s$s.log 2>&1 \
    && date > runs/z26/v12_conf_s$s.done; } || exit 1
done
[ -f runs/z26/e712_conf_m10.done ] || { python -m bench.zsre --ms 10 $S $V $W $R --seeds $SEEDS \
  --reuse-trained runs/z26/v7_conf_m10 --ensemble-with runs/z26/v12_conf_m10 --out runs/z26/e712_conf_m10 \
  > runs/z26/e712_conf_m10.log 2>&1 && date > runs/z26/e712_conf_m10.done; } || exit 1
python -m experiments.zsre_paired --val-only --figure choice_val_f1 --bar 0.010 2 --pairs 20 \
  runs/z26/v7_conf_m10 runs/z26/e712_conf_m10 > runs/z26/decision18.auto 2>&1
if grep -q "adopted True" runs/z26/decision18.auto; then
  V5="$V --seeds 40 41 42 43 44"
  [ -f runs/z26/v12_m5.done ] || { python -m bench.zsre --ms 5 $S $V5 $W $R --freeze-encoder-layers 8 \
    --out runs/z26/v12_m5 > runs/z26/v12_m5.log 2>&1 && date > runs/z26/v12_m5.done; } || exit 1
  [ -f runs/z26/e712_m5.done ] || { python -m bench.zsre --ms 5 $S $V5 $W $R --reuse-trained runs/z23/v7f_m5 \
    --ensemble-with runs/z26/v12_m5 --out runs/z26/e712_m5 > runs/z26/e712_m5.log 2>&1 \
    && date > runs/z26/e712_m5.done; } || exit 1
fi
date > runs/z26/q2.done
