#!/bin/bash
# Rule 18 with amendment 1 (docs/results/zsre27/rule18_amend.txt): seeds 50-59 at m = 10, each finished as one unit
# (V7, V12, the average rescored), its metrics.json files copied under docs/results/zsre27/conf/ and committed; a
# seed whose conf/sS.done exists is skipped, a seed cut short resumes at its first unfinished run. Then the decision
# on choice_val_f1 alone, applied by script; the m = 5 check (seeds 40-44, same units) only if adopted.
cd /work/main && . .venv/bin/activate
D=docs/results/zsre27
SYN=$D/synth_fewrel_x2.jsonl
S="--zrcm-input appended --frozen-markers --aux-data duie wikizsl --n-val 3 --eval-every 25 --steps 150 --pseudo-label 30 --pseudo-pool 100"
V="--sdzre-lr 1e-4 --sdzre-init identity --val-candidates val+test --models sdzre:no_contrastive"
W="--pseudo-rounds 3 --synthetic $SYN"
R="--val-folds 2 --marker-init punct --choice-val-per-relation 300"
mkdir -p runs/z27
step() {  # step NAME COMMAND...: run once, marker runs/z27/NAME.done
  local name=$1; shift
  [ -f runs/z27/$name.done ] && return 0
  "$@" > runs/z27/$name.log 2>&1 && date > runs/z27/$name.done
}
unit() {  # unit M SEED TAG: V7, V12 and their average at m = M for one seed, copied to $D/TAG and committed
  local m=$1 s=$2 tag=$3
  [ -f $D/$tag/s$s.done ] && return 0
  step ${tag}_v7_s$s python -m bench.zsre --ms $m $S $V $W $R --seeds $s --models desc sdzre:no_contrastive --out runs/z27/$tag/v7_m$m || return 1
  step ${tag}_v12_s$s python -m bench.zsre --ms $m $S $V $W $R --seeds $s --freeze-encoder-layers 8 \
    --out runs/z27/$tag/v12_m$m || return 1
  step ${tag}_e712_s$s python -m bench.zsre --ms $m $S $V $W $R --seeds $s --reuse-trained runs/z27/$tag/v7_m$m \
    --ensemble-with runs/z27/$tag/v12_m$m --out runs/z27/$tag/e712_m$m || return 1
  for arm in v7 v12 e712; do
    for f in runs/z27/$tag/${arm}_m$m/*-s$s*/metrics.json; do
      run=$(basename $(dirname $f)); mkdir -p $D/$tag/${arm}_m$m/$run; cp $f $D/$tag/${arm}_m$m/$run/metrics.json
    done
    mkdir -p $D/$tag/logs; cp runs/z27/${tag}_${arm}_s$s.log $D/$tag/logs/
  done
  date > $D/$tag/s$s.done
  git add $D/$tag && git commit -q -m "rule 18: seed $s ($tag) finished; figures not read before the decision" -- $D/$tag || true
}
for s in 50 51 52 53 54 55 56 57 58 59; do unit 10 $s conf || exit 1; done
[ -f $D/decision18.auto ] || python -m experiments.zsre_paired --val-only --figure choice_val_f1 --bar 0.010 2 \
  --pairs 20 $D/conf/v7_m10 $D/conf/e712_m10 > $D/decision18.auto 2>&1 || exit 1
git add $D/decision18.auto && git commit -q -m "rule 18: decision applied by script" -- $D/decision18.auto || true
if grep -q "adopted True" $D/decision18.auto; then
  for s in 40 41 42 43 44; do unit 5 $s m5 || exit 1; done
fi
date > runs/z27/q3.done
