"""`enpar score GOLD PRED [--vs PRED_B]`: every metric of enpar.metrics as plain-text tables (and JSON)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "score predictions against gold: P/R/F1 per convention and type, breakdowns, CIs, paired test, errors"

SYMMETRIC_MODES = ("directed", "unordered", "doubled")  # mirrors enpar.metrics, kept here for a fast --help
BREAKDOWNS = ("distance", "n_relations", "n_entities", "length")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from enpar.readers import FORMAT_CHOICES

    parser.add_argument("gold", type=Path, metavar="GOLD", help="gold data file (any supported format)")
    parser.add_argument(
        "pred", type=Path, metavar="PRED", help="predictions (canonical JSON lines), same ids"
    )
    parser.add_argument("--vs", type=Path, metavar="PRED_B", help="a second system's predictions to compare")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the full report as JSON")
    parser.add_argument(
        "--format", default="auto", choices=FORMAT_CHOICES, help="format of GOLD (default: detect)"
    )
    parser.add_argument(
        "--pred-format",
        default="auto",
        choices=FORMAT_CHOICES,
        help="format of PRED and PRED_B (default: detect)",
    )
    parser.add_argument(
        "--symmetric",
        default="directed",
        choices=SYMMETRIC_MODES,
        help="symmetric relation types: directed (paper: a reversed pair is FP + FN), unordered (counted "
        "once in either direction) or doubled (PL-Marker: counted in both directions) (default %(default)s)",
    )
    parser.add_argument(
        "--symmetric-labels",
        nargs="*",
        metavar="LABEL",
        help="the symmetric relation types (space or comma separated; none given = no symmetric types); "
        "default: the dataset's, from the GOLD path (SciERC: COMPARE CONJUNCTION, ACE05: PER-SOC)",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="resamples for the CIs and the paired test (0: none) (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling (default %(default)s)")
    parser.add_argument(
        "--test",
        default="randomization",
        choices=("randomization", "bootstrap"),
        help="paired test with --vs: approximate randomisation or paired bootstrap (default %(default)s)",
    )
    parser.add_argument(
        "--breakdown-convention",
        default="relation_strict",
        choices=("entity", "relation", "relation_strict"),
        help="convention scored in the breakdowns (default %(default)s)",
    )
    parser.add_argument(
        "--edges",
        action="append",
        default=[],
        metavar="BY=E1,E2,...",
        help=f"bucket lower bounds for a breakdown ({', '.join(BREAKDOWNS)}), e.g. distance=1,2,3,5,9 "
        "(buckets 1, 2, 3-4, 5-8, 9+); repeatable",
    )
    parser.add_argument(
        "--names", nargs="+", metavar="NAME", help="system names (default: from the file names)"
    )
    parser.add_argument(
        "--no-items", action="store_true", help="leave per-relation taxonomy items out of --json"
    )


def parse_edges(specs: list[str]) -> dict[str, list[int]]:
    """["distance=1,2,3"] -> {"distance": [1, 2, 3]}; ValueError with the offending spec."""
    out: dict[str, list[int]] = {}
    for spec in specs:
        by, sep, values = spec.partition("=")
        if not sep or by.strip() not in BREAKDOWNS:
            raise ValueError(f"--edges {spec!r}: expected BY=E1,E2,... with BY in {', '.join(BREAKDOWNS)}")
        try:
            out[by.strip()] = [int(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"--edges {spec!r}: edges must be integers") from None
    return out


def system_names(paths: list[Path]) -> list[str]:
    """Short distinct names: file stems, else parent/stem (runs/x/predictions.jsonl -> x/predictions)."""
    for make in (lambda p: p.stem, lambda p: f"{p.parent.name}/{p.stem}", str):
        names = [make(p) for p in paths]
        if len(set(names)) == len(names):
            return names
    return ["A", "B"][: len(paths)]


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from enpar.alignment import BY_POSITION, align_to_gold
    from enpar.datasets import symmetric_labels_for
    from enpar.metrics import report
    from enpar.readers import read_dataset
    from enpar.report_text import format_report
    from enpar.schema import DataError

    try:
        edges = parse_edges(args.edges)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.symmetric_labels is None:
        labels = symmetric_labels_for(args.gold)
    else:
        labels = frozenset(x.strip() for item in args.symmetric_labels for x in item.split(",") if x.strip())
    paths = [args.pred] if args.vs is None else [args.pred, args.vs]
    names = args.names or system_names(paths)
    if len(names) != len(paths):
        print(f"error: --names needs {len(paths)} name(s), got {len(names)}", file=sys.stderr)
        return 2

    gold = read_dataset(args.gold, args.format)
    systems = []
    for path, name in zip(paths, names, strict=True):
        # Other systems' files often carry no sentence ids: they line up by position when tokens match.
        sents, how = align_to_gold(gold, read_dataset(path, args.pred_format), what=f"{path}")
        if how == BY_POSITION:
            print(
                f"note: {name} ({path}) lined up with the gold by position (ids differ, tokens match)",
                file=sys.stderr,
            )
        systems.append(sents)
    try:
        rep = report(
            gold,
            systems[0],
            vs=systems[1] if len(systems) > 1 else None,
            names=names,
            symmetric=args.symmetric,
            symmetric_labels=labels,
            edges=edges,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            breakdown_convention=args.breakdown_convention,
            test=args.test,
            items=not args.no_items,
        )
    except DataError:
        raise  # a ValueError too, but reported by the CLI with its file and line
    except ValueError as exc:  # bad options (edges, bootstrap count)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(rep), end="")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rep, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0
