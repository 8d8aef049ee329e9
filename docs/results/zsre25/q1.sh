#!/bin/bash
# Rule 14 (docs/results/zsre25/rule14.txt): V7's 20 saved m = 10 models rescored with --keywords typed, then the
# decision on choice_val_f1 alone, applied mechanically; the m = 5 rescoring only if adopted. Resumable: a finished
# folder is skipped.
cd /work/main && . .venv/bin/activate
S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models sdzre:no_contrastive --seeds 40 41 42 43 44"
W="--pseudo-rounds 3 --synthetic runs/z22/synth_fewrel_x2.jsonl"
R="--val-folds 2 --marker-init punct --choice-val-per-relation 300 --keywords typed"
[ -f runs/z25/kw_m10.done ] || { python -m bench.zsre --ms 10 $S $V $W $R --reuse-trained runs/z22/v7f_m10 \
  --out runs/z25/kw_m10 > runs/z25/kw_m10.log 2>&1 && date > runs/z25/kw_m10.done; }
[ -f runs/z25/kw_more_m10.done ] || { python -m bench.zsre --ms 10 $S $V $W $R --seeds 45 46 47 48 49 \
  --reuse-trained runs/z24/v7_more_m10 --out runs/z25/kw_more_m10 > runs/z25/kw_more_m10.log 2>&1 \
  && date > runs/z25/kw_more_m10.done; }
python -m experiments.zsre_paired --val-only --figure choice_val_f1 \
  runs/z24/v7_fresh_m10,runs/z24/v7_more_m10 runs/z25/kw_m10,runs/z25/kw_more_m10 > runs/z25/paired14.log 2>&1
python - > runs/z25/decision14.auto 2>&1 <<'PY'
import numpy as np
from experiments.zsre_paired import best_val_and_test
ref = best_val_and_test("runs/z24/v7_fresh_m10,runs/z24/v7_more_m10", "choice_val_f1")
var = best_val_and_test("runs/z25/kw_m10,runs/z25/kw_more_m10", "choice_val_f1")
assert len(var) == 20 and set(var) <= set(ref), sorted(var)
d = np.array([var[r][0] - ref[r][0] for r in sorted(var)])
mean, se = d.mean(), d.std(ddof=1) / np.sqrt(len(d))
adopted = mean >= 0.010 and mean >= 2 * se
print(f"pairs {len(d)} mean {mean:+.4f} se {se:.4f} ratio {mean / se:+.2f} adopted {adopted}")
PY
if grep -q "adopted True" runs/z25/decision14.auto && [ ! -f runs/z25/kw_m5.done ]; then
  python -m bench.zsre --ms 5 $S $V $W $R --reuse-trained runs/z23/v7f_m5 --out runs/z25/kw_m5 \
    > runs/z25/kw_m5.log 2>&1 && date > runs/z25/kw_m5.done
fi
date > runs/z25/q1.done
