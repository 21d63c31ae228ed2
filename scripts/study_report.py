#!/usr/bin/env python
"""The ENPAR-vs-BERT study's report (docs/experiments.md): paired differences over seeds, verdicts, and the
paper's Figure 7-9 breakdowns of ENPAR vs BERT with intervals.

    scripts/study_report.py --lowres results/study-lowres --full results/study-full --out results/study-report

Input: SETTING/ARM/seedS/{test_metrics.json, predictions.jsonl} as scripts/study_enpar_vs_bert.sh writes.
Measure: exact relation F1 on test (enpar.metrics' "relation_strict" micro F1). A comparison pairs the two
arms' runs by seed (same seed = same fine-tuning data order and head initialisation) and reports the mean
difference with its 95% t interval over seeds. Verdict words, fixed in advance: "gain" if the interval lies
above 0, "loss" if it lies below 0, else "no detectable difference".
Breakdowns: per seed, enpar.metrics.breakdown scores each arm's test predictions per bucket (distance,
#entities, #relations); per bucket the ENPAR - BERT difference in F1 over seeds, with its t interval.
Output: OUT.json and OUT.html (altair: the breakdown differences with their intervals).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEASURE = ("relation_strict", "micro", "f1")
BREAKDOWNS = ("distance", "n_entities", "n_relations")  # the paper's Figures 7, 8, 9
# two-sided 95% Student t quantiles by degrees of freedom (no scipy here); df > 30 uses the normal's
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
         10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
         18: 2.101, 19: 2.093, 20: 2.086, 25: 2.060, 30: 2.042}  # fmt: skip


def t975(df: int) -> float:
    if df in _T975:
        return _T975[df]
    below = [k for k in _T975 if k <= df]
    return _T975[max(below)] if df <= 30 else 1.96


def interval(diffs: list[float]) -> dict[str, Any]:
    """Mean, sd and 95% t interval of paired differences; the verdict word."""
    n = len(diffs)
    if n < 2:
        return {"n": n, "mean": diffs[0] if diffs else None, "ci95": None, "verdict": "too few seeds"}
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    half = t975(n - 1) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    verdict = "gain" if lo > 0 else "loss" if hi < 0 else "no detectable difference"
    return {"n": n, "mean": mean, "sd": sd, "ci95": [lo, hi], "verdict": verdict}


def seed_scores(setting: Path, arm: str) -> dict[str, float]:
    """seed -> exact relation F1 on test."""
    out = {}
    for f in sorted((setting / arm).glob("seed*/test_metrics.json")):
        node: Any = json.loads(f.read_text(encoding="utf-8"))["systems"]["A"]["scores"]
        for k in MEASURE:
            node = node[k]
        out[f.parent.name] = float(node)
    return out


def compare(setting: Path, a: str, b: str) -> dict[str, Any] | None:
    """a - b paired by seed, on the seeds both arms have finished."""
    sa, sb = seed_scores(setting, a), seed_scores(setting, b)
    seeds = sorted(set(sa) & set(sb))
    if not seeds:
        return None
    arms = {arm: _describe([s[k] for k in seeds]) for arm, s in ((a, sa), (b, sb))}
    return {
        "setting": setting.name,
        "difference": f"{a} - {b}",
        "seeds": seeds,
        "arms": arms,
        **interval([sa[k] - sb[k] for k in seeds]),
    }


def _describe(values: list[float]) -> dict[str, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "sd": sd}


def breakdowns(setting: Path, a: str, b: str, gold_path: Path) -> dict[str, Any]:
    """Per breakdown and bucket: a's and b's F1 over seeds and the paired difference's interval."""
    from enpar.metrics import breakdown
    from enpar.readers import read_dataset
    from enpar.schema import read_jsonl

    gold = read_dataset(gold_path)
    seeds = sorted(
        p.parent.name
        for p in (setting / a).glob("seed*/predictions.jsonl")
        if (setting / b / p.parent.name / "predictions.jsonl").is_file()
    )
    per: dict[str, dict[str, dict[str, list[float]]]] = {by: {} for by in BREAKDOWNS}
    for seed in seeds:
        systems = {arm: read_jsonl(setting / arm / seed / "predictions.jsonl") for arm in (a, b)}
        for by in BREAKDOWNS:
            for row in breakdown(gold, systems, by=by, n_resamples=0):
                cell = per[by].setdefault(row["bucket"], {a: [], b: [], "support": [row["support"]]})
                for arm in (a, b):
                    cell[arm].append(row["systems"][arm]["f1"] or 0.0)
    out: dict[str, Any] = {"seeds": seeds}
    for by, buckets in per.items():
        out[by] = [
            {
                "bucket": bucket,
                "support": cell["support"][0],
                a: _describe(cell[a]),
                b: _describe(cell[b]),
                **interval([x - y for x, y in zip(cell[a], cell[b], strict=True)]),
            }
            for bucket, cell in buckets.items()
        ]
    return out


def chart(figures: dict[str, Any], title: str, path: Path) -> None:
    import altair as alt

    rows = [
        {"breakdown": by, "bucket": r["bucket"], "mean": r["mean"], "lo": r["ci95"][0], "hi": r["ci95"][1]}
        for by in BREAKDOWNS
        for r in figures.get(by, [])
        if r.get("ci95")
    ]
    if not rows:
        return
    base = alt.Chart(alt.Data(values=rows)).encode(x=alt.X("bucket:N", sort=None, title=None))
    points = base.mark_point(filled=True).encode(y=alt.Y("mean:Q", title=f"{title} exact relation F1"))
    bars = base.mark_rule().encode(y="lo:Q", y2="hi:Q")
    zero = alt.Chart(alt.Data(values=[{"z": 0}])).mark_rule(strokeDash=[4, 4]).encode(y="z:Q")
    (points + bars + zero).properties(width=220, height=200).facet(
        column=alt.Column("breakdown:N", sort=list(BREAKDOWNS))
    ).resolve_scale(x="independent").save(str(path))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lowres", type=Path, default=ROOT / "results" / "study-lowres")
    ap.add_argument("--full", type=Path, default=ROOT / "results" / "study-full")
    ap.add_argument("--gold", type=Path, default=ROOT.parent / "shared" / "data" / "scierc" / "test.json")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "study-report")
    args = ap.parse_args(argv)
    comparisons = {
        "primary: ENPAR - BERT at 10%": compare(args.lowres, "enpar", "bert"),
        "secondary: ENPAR - MLM at 10%": compare(args.lowres, "enpar", "mlm"),
        "secondary: MLM - BERT at 10%": compare(args.lowres, "mlm", "bert"),
        "secondary: ENPAR - BERT on full data": compare(args.full, "enpar", "bert"),
    }
    report: dict[str, Any] = {"measure": "exact relation F1 on test (relation_strict micro F1)"}
    report["comparisons"] = comparisons
    figures = (
        breakdowns(args.lowres, "enpar", "bert", args.gold)
        if comparisons["primary: ENPAR - BERT at 10%"]
        else {}
    )
    report["breakdowns_lowres_enpar_minus_bert"] = figures
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    chart(figures, "ENPAR - BERT (10%)", args.out.with_suffix(".html"))
    for name, c in comparisons.items():
        if c is None:
            print(f"{name}: no paired runs yet")
            continue
        ci = "-" if c["ci95"] is None else f"[{100 * c['ci95'][0]:+.2f}, {100 * c['ci95'][1]:+.2f}]"
        print(f"{name}: {100 * c['mean']:+.2f} points, 95% CI {ci} over {c['n']} seeds -> {c['verdict']}")
    print(f"wrote {args.out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
