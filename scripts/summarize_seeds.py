"""Mean and standard deviation over seeds of test Entity / Relation / Relation (exactly) micro F1, from the
per-seed metrics files a fine-tuning script committed (results/scierc-NAME/seedS/test_metrics*.json).

    .venv/bin/python scripts/summarize_seeds.py results/scierc-NAME 5216 5217 5218
    .venv/bin/python scripts/summarize_seeds.py results/scierc-NAME 5216 5217 5218 \
        --metrics test_metrics_viterbi.json --out summary_viterbi.json
    # SpERT's convention for symmetric relations (COMPARE / CONJUNCTION counted in either direction):
    .venv/bin/python scripts/summarize_seeds.py results/scierc-NAME 5216 5217 5218 \
        --rescore predictions.jsonl --gold ../shared/data/scierc/test.json --symmetric unordered \
        --out summary_unordered.json

--rescore scores each seed's committed predictions again (`enpar score`) instead of reading its metrics
file, for a scoring convention other than the one the run was evaluated with. Prints one line, writes JSON
(--out, a file name inside the results folder; default summary.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from enpar.metrics import SYMMETRIC_MODES

CONVENTIONS = (("Entity", "entity"), ("Relation", "relation"), ("Relation (exactly)", "relation_strict"))


def percent_f1(scores: dict) -> dict[str, float]:
    """The three micro F1 scores (%) of an `enpar.metrics.score` result."""
    return {c: 100 * scores[c]["micro"]["f1"] for _, c in CONVENTIONS}


def report_f1(report: dict, source: Path) -> dict[str, float]:
    """percent_f1 of the one system in an `enpar score` / `enpar evaluate` report."""
    try:
        return percent_f1(next(iter(report["systems"].values()))["scores"])
    except (KeyError, StopIteration, TypeError) as err:
        raise SystemExit(f"{source}: not a metrics report (missing {err})") from None


def summarize(rows: dict[str, dict[str, float]]) -> dict:
    summary: dict = {"seeds": rows, "mean": {}, "sd": {}}
    for _, conv in CONVENTIONS:
        values = [r[conv] for r in rows.values()]
        summary["mean"][conv] = round(statistics.mean(values), 2)
        summary["sd"][conv] = round(statistics.stdev(values), 2) if len(values) > 1 else 0.0
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path, help="a results folder holding seedS/ subfolders")
    parser.add_argument("seeds", nargs="+")
    parser.add_argument("--metrics", default="test_metrics.json", help="per-seed metrics file to read")
    parser.add_argument("--rescore", metavar="PRED", help="per-seed predictions file to score again instead")
    parser.add_argument("--gold", type=Path, help="gold test data (with --rescore)")
    parser.add_argument("--symmetric", choices=SYMMETRIC_MODES, default="directed", help="with --rescore")
    parser.add_argument("--out", default="summary.json", help="file name written inside RESULTS")
    args = parser.parse_args(argv)
    if args.rescore and args.gold is None:
        parser.error("--rescore needs --gold")

    if args.rescore:  # read once, scored against every seed
        from enpar.datasets import symmetric_labels_for
        from enpar.metrics import score
        from enpar.readers import read_dataset

        gold, labels = read_dataset(args.gold), symmetric_labels_for(args.gold)
    rows = {}
    for seed in args.seeds:
        source = args.results / f"seed{seed}" / (args.rescore or args.metrics)
        if not source.is_file():
            raise SystemExit(f"{source}: no such file (seed {seed})")
        if args.rescore:
            scores = score(gold, read_dataset(source), symmetric=args.symmetric, symmetric_labels=labels)
            rows[seed] = percent_f1(scores)
        else:
            rows[seed] = report_f1(json.loads(source.read_text()), source)
    summary = summarize(rows)
    if args.rescore:
        summary["source"] = {"predictions": args.rescore, "gold": str(args.gold), "symmetric": args.symmetric}
    else:
        summary["source"] = {"metrics": args.metrics}
    out = args.results / args.out
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"SciERC test F1 (%), {len(rows)} seed(s): "
        + " / ".join(f"{name} {summary['mean'][c]:.1f} ± {summary['sd'][c]:.1f}" for name, c in CONVENTIONS)
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
