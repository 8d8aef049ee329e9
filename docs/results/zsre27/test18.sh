#!/bin/bash
# Rule 18, test figures from the committed copies, read after decision18.txt:
#   bash docs/results/zsre27/test18.sh                          # seeds 50-59, m = 10 (test18.log)
#   bash docs/results/zsre27/test18.sh docs/results/zsre27/m5 5  # the m = 5 check, seeds 40-44 (bar: baseline + 10)
cd /work/main && . .venv/bin/activate && DIR=${1:-docs/results/zsre27/conf} M=${2:-10} python - <<'EOF'
"""Rule 18: test macro F1 (%) per arm (V7, V12, their average) from the committed metrics.json copies."""
import json, os, pathlib, statistics as st
D, M = pathlib.Path(os.environ["DIR"]), os.environ["M"]
def load(arm):
    out = {}
    for f in sorted((D / arm).glob("*/metrics.json")):
        out[f.parent.name] = json.loads(f.read_text())
    return out
v7, v12, e = load(f"v7_m{M}"), load(f"v12_m{M}"), load(f"e712_m{M}")
desc = {k: v for k, v in v7.items() if k.startswith("desc")}
def f1(d): return 100 * d["macro"]["f1"]
def share(d):
    c = d["predicted_label_counts"]; return max(c.values()) / sum(c.values())
b = [f1(d) for d in desc.values()]
print(f"desc (e5 baseline): mean {st.mean(b):.2f} over {len(b)} seeds; max share {max(share(d) for d in desc.values()):.2f}")
runs = sorted(k for k in e)
for name, arm in (("V7", v7), ("V12", v12), ("V7+V12", e)):
    x = [f1(arm[k]) for k in runs]
    print(f"{name}: mean {st.mean(x):.2f} +- {st.stdev(x):.2f} (n={len(x)}), best run {max(x):.2f}, "
          f"fresh val F1 {st.mean(arm[k]['choice_val_f1'] for k in runs):.4f}, max share {max(share(arm[k]) for k in runs):.2f}, "
          f"train s {min(arm[k]['train_s'] for k in runs):.0f}-{max(arm[k]['train_s'] for k in runs):.0f}")
    for fold in ("f0", "f1"):
        print(f"  {fold}: " + " / ".join(f"{f1(arm[k]):.1f}" for k in runs if k.endswith(fold)))
up = sum(f1(e[k]) > f1(v7[k]) for k in runs)
print(f"V7+V12 up vs V7 on {up} of {len(runs)} runs; mean change {st.mean(f1(e[k]) - f1(v7[k]) for k in runs):+.2f}")
tot = [v7[k]["train_s"] + v12[k]["train_s"] for k in runs]
print(f"ensemble train s per run (V7 + V12): {min(tot):.0f}-{max(tot):.0f}")
print(f"V7+V12 over the baseline: {st.mean(f1(e[k]) for k in runs) - st.mean(b):+.2f}; V7: {st.mean(f1(v7[k]) for k in runs) - st.mean(b):+.2f}")
EOF
