#!/usr/bin/env bash
# Rebuilds runs/v16: the training groups, their document split, the typed dev groups and the choice set
# (real 1.5B candidates of held-out *train* documents). Each step is skipped when its output exists, and the
# LLM extraction resumes from its ledger, so the script can be rerun after a crash. docs/results.md, "How to
# reproduce", lists the same commands; this file is them in order (a fresh machine keeps nothing under runs/).
#   bash experiments/rebuild_v16.sh          # groups, split, dev groups, calib (seconds)
#   bash experiments/rebuild_v16.sh choice   # + the 288-document 1.5B extraction and runs/v16/calib2/all
set -euo pipefail
cd "$(dirname "$0")/.."
R=runs/v16
LLM=../shared/data/duie/llm/train_qwen1.5b_extract/candidates.jsonl
mkdir -p "$R/groups" "$R/calib" "$R/calib2/gen" "$R/calib2/all"

[ -s "$R/groups/train.jsonl" ] || verifier generate --generator errors.v1 --data duie --split train --n-negatives 6 \
  --paraphrase-negatives 0.5 --llm-candidates "$LLM" --out "$R/groups/train.jsonl"
[ -s "$R/groups/val300.jsonl" ] || python - "$R/groups" <<'EOF'
import sys
from pathlib import Path

from verifier.data.groups import read_groups
from verifier.io import read_jsonl, write_jsonl
from verifier.schema import Candidate
from verifier.train import split_groups

d = Path(sys.argv[1])
train, val = split_groups(read_groups(d / "train.jsonl")[0], 0.1, 42)
rows = list(read_jsonl(d / "train.jsonl", Candidate))
keep = {g.group_id for g in train}
first = {g.group_id for g in val[:300]}
write_jsonl(d / "train_split.jsonl", [r for r in rows if r.group_id in keep])
write_jsonl(d / "val300.jsonl", [r for r in rows if r.group_id in first])
print(f"{len(train)} training groups, {len(val)} held out, 300 validate")
EOF
[ -s "$R/groups/dev_perturb.jsonl" ] || verifier generate --generator perturb.v1 --data duie --split dev \
  --out "$R/groups/dev_perturb.jsonl"
[ -s "$R/calib/heldout_all_docs.jsonl" ] || python -m experiments.heldout_candidates --groups "$R/groups/train.jsonl" \
  --candidates "$LLM" --out "$R/calib" --documents-out "$R/calib/heldout_all_docs.jsonl"
[ -s "$R/calib/heldout_new_docs.jsonl" ] || python - "$R/calib" "$LLM.done" <<'EOF'
import sys
from pathlib import Path

from verifier.io import read_jsonl, write_jsonl
from verifier.schema import GoldRecord

d, ledger = Path(sys.argv[1]), Path(sys.argv[2])
done = {line.strip() for line in ledger.read_text(encoding="utf-8").splitlines() if line.strip()}
new = [g for g in read_jsonl(d / "heldout_all_docs.jsonl", GoldRecord) if g.doc_id not in done]
write_jsonl(d / "heldout_new_docs.jsonl", new)
print(f"{len(new)} held-out documents the shared extractions do not cover")
EOF
[ "${1:-}" = choice ] || exit 0

verifier generate --llm local --model qwen2.5-coder-1.5b --prompt extract --input "$R/calib/heldout_new_docs.jsonl" \
  --data duie --split train --limit 288 --concurrency 1 --max-tokens 384 --max-tokens-cap 768 --timeout-s 900 \
  --max-attempts 2 --out "$R/calib2/gen/candidates.jsonl" || [ $? -eq 1 ]  # 1: some documents failed (failures.jsonl)
python - "$R" <<'EOF'
import sys
from pathlib import Path

from verifier.io import read_jsonl, write_jsonl
from verifier.schema import Candidate, GoldRecord

r = Path(sys.argv[1])
rows = list(read_jsonl(r / "calib/candidates.jsonl", Candidate))
rows += list(read_jsonl(r / "calib2/gen/candidates.jsonl", Candidate))
docs = {c.doc_id for c in rows}
gold = [g for g in read_jsonl(r / "calib/heldout_all_docs.jsonl", GoldRecord) if g.doc_id in docs]
write_jsonl(r / "calib2/all/candidates.jsonl", rows)
write_jsonl(r / "calib2/all/gold.jsonl", gold)
print(f"choice set: {len(rows)} candidates of {len(gold)} documents")
EOF
