#!/bin/bash
# Resumes rule 13 after the fourteenth session's stop: V7 seed 46 finished (both folds); V12 seed 46 was killed
# mid fold 0, so seed 46 reruns V12 only; seeds 47-49 run both variants as in q4.sh.
cd /work/main && . .venv/bin/activate
S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models sdzre:no_contrastive --seeds 40 41 42 43 44"
W="--pseudo-rounds 3 --synthetic runs/z22/synth_fewrel_x2.jsonl"
date > runs/z24/q5.started
for s in 46 47 48 49; do
  [ -f runs/z24/more_s$s.done ] && continue
  if [ ! -f runs/z24/v7_more_m10/sdzre-no_contrastive-m10-s$s-f1/metrics.json ]; then
    python -m bench.zsre --ms 10 $S $V $W --val-folds 2 --marker-init punct --choice-val-per-relation 300 --seeds $s --models desc sdzre:no_contrastive --out runs/z24/v7_more_m10 > runs/z24/v7_more_s$s.log 2>&1
  fi
  rm -rf runs/z24/v12_more_m10/sdzre-no_contrastive-m10-s$s-f0 runs/z24/v12_more_m10/sdzre-no_contrastive-m10-s$s-f1
  python -m bench.zsre --ms 10 $S $V $W --val-folds 2 --marker-init punct --freeze-encoder-layers 8 --choice-val-per-relation 300 --seeds $s --out runs/z24/v12_more_m10 > runs/z24/v12_more_s$s.log 2>&1
  date > runs/z24/more_s$s.done
done
date > runs/z24/q5.done
