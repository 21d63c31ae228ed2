"""Scoring speed on SciERC test: score() and the full report (bootstrap CIs + paired test).

Baseline in the same run: a naive set-intersection micro-F1 over the same sentences, the least any
scorer must do. Prints a table and writes benchmarks/results/metrics.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from enpar import metrics
from enpar.readers import read_dataset

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "scierc" / "test.json"


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def naive_f1(gold, pred) -> float:
    tp = n_pred = n_gold = 0
    for g, p in zip(gold, pred, strict=True):
        gs = {(r.head.span, r.tail.span, r.label) for r in g.relations}
        ps = {(r.head.span, r.tail.span, r.label) for r in p.relations}
        tp, n_pred, n_gold = tp + len(gs & ps), n_pred + len(ps), n_gold + len(gs)
    return 2 * tp / max(n_pred + n_gold, 1)


def main() -> int:
    if not DATA.exists():
        print(f"skip: {DATA} not found")
        return 0
    gold = read_dataset(DATA)
    pred = [s.with_predictions(s.entities[1:], s.relations[1:]) for s in gold]
    rows = {
        "naive relation micro-F1 (baseline)": best_of(lambda: naive_f1(gold, pred)),
        "metrics.score (3 conventions)": best_of(lambda: metrics.score(gold, pred)),
        "metrics.report, 1000 bootstrap": best_of(lambda: metrics.report(gold, pred, n_bootstrap=1000), 3),
        "metrics.report vs B, 1000 bootstrap": best_of(
            lambda: metrics.report(gold, pred, vs=gold, n_bootstrap=1000), 3
        ),
    }
    base = rows["naive relation micro-F1 (baseline)"]
    print(f"SciERC test: {len(gold)} sentences")
    print(f"{'operation':40s} {'seconds':>9s} {'x baseline':>11s}")
    for name, sec in rows.items():
        print(f"{name:40s} {sec:9.4f} {sec / base:11.1f}")
    out = ROOT / "benchmarks" / "results" / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "sentences": len(gold),
        "seconds": rows,
        "timing": "best of 3-5 runs",
        "python": sys.version.split()[0],
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
