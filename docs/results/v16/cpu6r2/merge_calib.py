"""Pool the 1.5B (calib2) and 0.5B (calib05) calibration candidates of the same held-out train documents: the 0.5B
rows get doc ids suffixed '@q05' and their documents' gold is repeated under that id, so that each extractor's
candidates are matched against the gold on their own (one-to-one matching would otherwise let one extractor's
candidates take the other's gold triples). Run from the repository root after both extractions."""

import json
from pathlib import Path


def read(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def write(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


out = Path("runs/v16/calib_mix")
out.mkdir(parents=True, exist_ok=True)
gold = read("runs/v16/calib2/all/gold.jsonl")
c15 = read("runs/v16/calib2/all/candidates.jsonl")
c05 = [{**r, "doc_id": r["doc_id"] + "@q05"} for r in read("runs/v16/calib05/gen/candidates.jsonl")]
write(out / "candidates.jsonl", c15 + c05)
write(out / "gold.jsonl", gold + [{**g, "doc_id": g["doc_id"] + "@q05"} for g in gold])
print(f"{len(c15)} 1.5B + {len(c05)} 0.5B candidates, {len(gold)} x 2 gold records -> {out}")
