#!/bin/bash
# Rule 15 (docs/results/zsre25/rule15.txt): V7 with all-MiniLM-L6-v2 as sentence and description encoder, one seed
# at a time (resumable: a finished seed is skipped), then the decision on choice_val_f1 alone, applied
# mechanically; m = 5 only if adopted.
cd /work/main && . .venv/bin/activate
S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models desc sdzre:no_contrastive --seeds 40 41 42 43 44"
W="--pseudo-rounds 3 --synthetic runs/z22/synth_fewrel_x2.jsonl"
M="--val-folds 2 --marker-init punct --choice-val-per-relation 300 --encoder minilm --desc-encoder minilm --freeze-encoder-layers 4"
for s in 40 41 42 43 44; do
  [ -f runs/z25/mini_s$s.done ] && continue
  python -m bench.zsre --ms 10 $S $V $W $M --seeds $s --out runs/z25/mini_m10 > runs/z25/mini_s$s.log 2>&1 \
    && date > runs/z25/mini_s$s.done
done
python -m experiments.zsre_paired --val-only --figure choice_val_f1 runs/z24/v7_fresh_m10 runs/z25/mini_m10 \
  > runs/z25/paired15.log 2>&1
python - > runs/z25/decision15.auto 2>&1 <<'PY'
import numpy as np
from experiments.zsre_paired import best_val_and_test
ref = best_val_and_test("runs/z24/v7_fresh_m10", "choice_val_f1")
var = best_val_and_test("runs/z25/mini_m10", "choice_val_f1")
assert len(var) == 10 and set(var) <= set(ref), sorted(var)
d = np.array([var[r][0] - ref[r][0] for r in sorted(var)])
mean, se = d.mean(), d.std(ddof=1) / np.sqrt(len(d))
adopted = mean >= 0.010 and mean >= 2 * se
print(f"pairs {len(d)} mean {mean:+.4f} se {se:.4f} ratio {mean / se:+.2f} adopted {adopted}")
PY
if grep -q "adopted True" runs/z25/decision15.auto; then
  for s in 40 41 42 43 44; do
    [ -f runs/z25/mini5_s$s.done ] && continue
    python -m bench.zsre --ms 5 $S $V $W $M --seeds $s --out runs/z25/mini_m5 > runs/z25/mini5_s$s.log 2>&1 \
      && date > runs/z25/mini5_s$s.done
  done
fi
date > runs/z25/q2.done
