#!/usr/bin/env bash
# Paired comparison of two fine-tuned systems on SciERC test, seed by seed (the same seeds on both sides):
# `enpar score` with --vs gives both systems' tables, CIs and the paired approximate-randomisation test.
#
#   scripts/compare_scierc.sh                          # baseline vs enpar, seeds 5216 5217 5218
#   A=baseline B=enpar-nocnn scripts/compare_scierc.sh # another pair of runs of scripts/finetune_scierc.sh
#
# Runs whose predictions were not kept (before they were committed to results/): compare_from_results.py
# tests the relation conventions from the committed test_metrics.json alone.
# Output: results/scierc-compare-$A-vs-$B/seedS.json (full reports) and summary.json (per seed: exact
# relation F1 of A and B, delta and p-value, for the three conventions).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
DATA=${ENPAR_DATA:-../shared/data}/scierc
A=${A:-baseline}
B=${B:-enpar}
SEEDS=${SEEDS:-"5216 5217 5218"}
OUT=results/scierc-compare-$A-vs-$B
mkdir -p "$OUT"
# Test predictions: the committed copy in results/ where there is one, else the run folder's.
predictions() {
    local kept=results/scierc-$1/seed$2/predictions.jsonl
    if [[ -f "$kept" ]]; then echo "$kept"; else echo "runs/scierc-$1-seed$2/test/predictions.jsonl"; fi
}
for seed in $SEEDS; do
    $PY -m enpar.cli score "$DATA/test.json" "$(predictions "$A" "$seed")" \
        --vs "$(predictions "$B" "$seed")" --names "$A" "$B" --no-items \
        --json "$OUT/seed$seed.json" > "$OUT/seed$seed.txt"
done
"$PY" - "$OUT" $SEEDS <<'PYEOF'
import json
import sys
from pathlib import Path

out, seeds = Path(sys.argv[1]), sys.argv[2:]
summary = {}
for seed in seeds:
    rep = json.loads((out / f"seed{seed}.json").read_text())
    summary[seed] = {
        conv: {k: test[k] for k in ("value_a", "value_b", "delta", "p_value", "method")}
        for conv, test in rep["paired_test"].items()
    }
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
for seed, row in summary.items():
    print(f"seed {seed}: " + "; ".join(
        f"{conv} A {100 * t['value_a']:.1f} B {100 * t['value_b']:.1f} p={t['p_value']:.3f}"
        for conv, t in row.items()))
print(f"wrote {out / 'summary.json'}")
PYEOF
