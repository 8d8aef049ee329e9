#!/bin/bash
# Usage: bash bench/allocators.sh   (about 5 minutes on 2 cores; JEMALLOC=path to libjemalloc.so.2 if elsewhere)
# Allocator settings vs the same k=6 bf16 training steps (bench/train_step.py), one process each, alone on the cores.
# Prints pairs/s and peak RSS per setting; asserts nothing.
cd "$(dirname "$0")/.."
J=${JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
run() { echo "== $1"; shift; env "$@" python -m bench.train_step --fusion-layers 6 --precisions bf16 --baselines --order-k 0 --steps 8 --warmup 2 2>/dev/null | grep -E "late|peak"; }
run "glibc default" X=1
run "glibc, no mmap/trim" GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296
if [ -f "$J" ]; then
  run "jemalloc default" LD_PRELOAD=$J
  run "jemalloc, no decay" LD_PRELOAD=$J MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1
else
  echo "no jemalloc at $J: its rows skipped"
fi
