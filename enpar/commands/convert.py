"""`enpar convert IN OUT [--format]`: any supported dataset file -> canonical JSON lines."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

HELP = "Convert a dataset file (DyGIE, NERE, unified/NYT, SpERT) to canonical JSON lines."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from enpar.readers import FORMAT_CHOICES

    parser.add_argument("input", type=Path, help="dataset file to read")
    parser.add_argument("output", type=Path, help="canonical JSON-lines file to write")
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMAT_CHOICES,
        help="input format (default: detected from the content)",
    )
    parser.add_argument(
        "--max-overlaps",
        type=int,
        default=20,
        metavar="N",
        help="list at most N overlapping entity pairs (0: all; default 20); all are counted",
    )


def run(args: argparse.Namespace) -> int:
    from enpar.readers import detect_format, duplicates, normalise_format, overlaps, read_dataset
    from enpar.schema import write_jsonl

    fmt = normalise_format(args.format)
    if fmt == "auto":
        fmt = detect_format(args.input)
    sentences = read_dataset(args.input, format=fmt)
    n = write_jsonl(sentences, args.output)
    docs = len({s.doc_id for s in sentences if s.doc_id})
    print(f"{args.input} ({fmt}) -> {args.output}")
    print(
        f"  documents {docs or '-'}  sentences {n}  tokens {sum(len(s) for s in sentences)}  "
        f"entities {sum(len(s.entities) for s in sentences)}  "
        f"relations {sum(len(s.relations) for s in sentences)}"
    )
    _report(
        "overlapping entity pairs (kept; a BIEOU tagger cannot represent them)",
        overlaps(sentences),
        args.max_overlaps,
    )
    _report("duplicated annotations (kept)", duplicates(sentences), args.max_overlaps)
    return 0


def _report(title: str, items: list, limit: int) -> None:
    if not items:
        return
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(Counter(i.kind for i in items).items()))
    print(f"  {len(items)} {title}: {kinds}")
    shown = items if limit <= 0 else items[:limit]
    for item in shown:
        print(f"    {item.describe()}")
    if len(shown) < len(items):
        print(f"    ... {len(items) - len(shown)} more (--max-overlaps 0 lists all)")
