"""`enpar stats PATH... [--format] [--json OUT]`: sizes, per-type counts and overlaps per split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "Print documents, sentences, tokens, entities, relations, per-type and overlap counts per split."

_ROWS = (
    "documents",
    "sentences",
    "tokens",
    "entities",
    "relations",
    "sentences_without_relations",
    "max_sentence_tokens",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from enpar.readers import FORMAT_CHOICES

    parser.add_argument("paths", type=Path, nargs="+", metavar="PATH", help="dataset files (one per split)")
    parser.add_argument(
        "--format",
        default="auto",
        choices=FORMAT_CHOICES,
        help="input format of every file (default: detected per file)",
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the statistics as JSON")


def _label(path: Path, taken: set[str]) -> str:
    """ "scierc/train" style names; the full path where two files would get the same name."""
    label = f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem
    return label if label not in taken else str(path)


def run(args: argparse.Namespace) -> int:
    from enpar.datasets import corpus_stats
    from enpar.readers import read_dataset

    splits: dict[str, dict[str, Any]] = {}
    everything = []
    for path in args.paths:
        sentences = read_dataset(path, format=args.format)
        everything.extend(sentences)
        splits[_label(path, set(splits))] = {"path": str(path), **corpus_stats(sentences)}
    result: dict[str, Any] = {"splits": splits}
    if len(splits) > 1:
        result["total"] = corpus_stats(everything)
    print(format_stats(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _table(title: str, rows: list[tuple[str, list[Any]]], columns: list[str]) -> list[str]:
    cells = [[title, *columns]] + [
        [name, *("-" if v is None else f"{v:,}" for v in values)] for name, values in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def format_stats(result: dict[str, Any]) -> str:
    """The tables `enpar stats` prints: overall sizes, entity types, relation types (one column per split)."""
    columns = dict(result["splits"])
    if "total" in result:
        columns["total"] = result["total"]
    names = list(columns)
    out: list[str] = []
    rows = [(row, [columns[c][row] for c in names]) for row in _ROWS]
    rows += [(f"overlaps_{k}", [columns[c]["overlaps"][k] for c in names]) for k in ("nested", "crossing")]
    rows.append(("sentences_with_overlaps", [columns[c]["overlaps"]["sentences"] for c in names]))
    rows += [
        (f"duplicate_{k}", [columns[c]["duplicates"][k] for c in names]) for k in ("entities", "relations")
    ]
    out += _table("split", rows, names)
    for key, title in (("entity_types", "entity type"), ("relation_types", "relation type")):
        labels: dict[str, None] = {}
        for c in names:
            labels.update(dict.fromkeys(columns[c][key]))
        if labels:
            out.append("")
            out += _table(
                title, [(lab, [columns[c][key].get(lab, 0) for c in names]) for lab in labels], names
            )
    return "\n".join(out)
