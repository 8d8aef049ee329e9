"""Pool the 1.5B (calib2) and 0.5B (calib05) calibration candidates of the same held-out train documents: the 0.5B
rows get doc ids suffixed '@q05' and their documents' gold is repeated under that id, so that each extractor's
candidates are matched against the gold on their own (one-to-one matching would otherwise let one extractor's
candidates take the other's gold triples)."""
import json, sys
from pathlib import Path

out = Path("runs/v16/calib_mix")
out.mkdir(parents=True, exist_ok=True)
gold = [json.loads(l) for l in open("runs/v16/calib2/all/gold.jsonl")]
c15 = [json.loads(l) for l in open("runs/v16/calib2/all/candidates.jsonl")]
c05 = [json.loads(l) for l in open("runs/v16/calib05/gen/candidates.jsonl")]
for r in c05:
    r["doc_id"] += "@q05"
g05 = [{**g, "doc_id": g["doc_id"] + "@q05"} for g in gold]
with open(out / "candidates.jsonl", "w") as f:
    for r in c15 + c05:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
with open(out / "gold.jsonl", "w") as f:
    for g in gold + g05:
        f.write(json.dumps(g, ensure_ascii=False) + "\n")
print(f"{len(c15)} 1.5B + {len(c05)} 0.5B candidates, {len(gold)} x 2 gold records -> {out}")
