#!/bin/bash
# Rule 13's decision, applied mechanically the moment its 20 pairs exist (docs/results/zsre24/rule13.txt), and, only
# if V12 is adopted, V12 at m = 5 (seeds 40-44 x 2 folds), which the rule then requires.
cd /work/main && . .venv/bin/activate
while [ ! -f runs/z24/q5.done ]; do sleep 20; done
python -m experiments.zsre_paired --val-only --figure choice_val_f1 \
  runs/z24/v7_fresh_m10,runs/z24/v7_more_m10 runs/z24/v12_fresh_m10,runs/z24/v12_more_m10 > runs/z24/paired13.log 2>&1
python - > runs/z24/decision13.auto 2>&1 <<'PY'
import numpy as np
from experiments.zsre_paired import best_val_and_test
ref = best_val_and_test("runs/z24/v7_fresh_m10,runs/z24/v7_more_m10", "choice_val_f1")
var = best_val_and_test("runs/z24/v12_fresh_m10,runs/z24/v12_more_m10", "choice_val_f1")
assert len(var) == 20 and set(var) <= set(ref), sorted(var)
d = np.array([var[r][0] - ref[r][0] for r in sorted(var)])
mean, se = d.mean(), d.std(ddof=1) / np.sqrt(len(d))
adopted = mean >= 0.010 and mean >= 2.5 * se
print(f"pairs {len(d)} mean {mean:+.4f} se {se:.4f} ratio {mean / se:+.2f} adopted {adopted}")
PY
if grep -q "adopted True" runs/z24/decision13.auto; then
  S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
  V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models sdzre:no_contrastive --seeds 40 41 42 43 44"
  W="--pseudo-rounds 3 --synthetic runs/z22/synth_fewrel_x2.jsonl"
  rm -rf runs/z24/v12_m5
  python -m bench.zsre --ms 5 $S $V $W --val-folds 2 --marker-init punct --freeze-encoder-layers 8 --out runs/z24/v12_m5 > runs/z24/v12_m5.log 2>&1
fi
date > runs/z24/q6.done
