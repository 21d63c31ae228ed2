#!/usr/bin/env python
"""A fixed subset of a dygie-format split chosen by document (the low-resource study's 10% of SciERC train).

    scripts/subset_docs.py splits/scierc-train-10pct.txt                 # -> runs/scierc-train-10pct.json
    scripts/subset_docs.py splits/scierc-train-10pct.txt --out X.json
    scripts/subset_docs.py splits/new.txt --make 0.1 --seed 20250   # choose a list once (then commit it)

The list holds one `doc_key` per line (# comments allowed); the subset keeps those documents' lines of
SOURCE (default ../shared/data/scierc/train.json) in SOURCE's order. A listed key missing from SOURCE is an
error naming the list's line, so a list never silently shrinks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path(os.environ.get("ENPAR_DATA", ROOT.parent / "shared" / "data")) / "scierc" / "train.json"


def read_docs(path: Path) -> list[tuple[str, str]]:
    """(doc_key, raw line) of a dygie JSON-lines file."""
    docs = []
    with path.open(encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                docs.append((str(json.loads(raw)["doc_key"]), raw))
            except (json.JSONDecodeError, KeyError) as exc:
                raise SystemExit(f"{path}:{lineno}: not a dygie document with a doc_key ({exc})") from None
    return docs


def read_list(path: Path) -> list[tuple[int, str]]:
    out = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        key = raw.split("#", 1)[0].strip()
        if key:
            out.append((lineno, key))
    return out


def make_list(docs: list[tuple[str, str]], fraction: float, seed: int, out: Path, source: Path) -> None:
    keys = sorted(k for k, _ in docs)
    n = max(1, round(fraction * len(keys)))
    chosen = sorted(random.Random(seed).sample(keys, n))
    header = f"# {n} of {len(keys)} documents of {source.name}: random.Random({seed}).sample, sorted keys\n"
    out.write_text(header + "".join(k + "\n" for k in chosen), encoding="utf-8")
    print(f"wrote {out}: {n} documents")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("list", type=Path, help="doc_key list, one per line")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="dygie JSON-lines split")
    ap.add_argument("--out", type=Path, default=None, help="default runs/<list name>.json")
    ap.add_argument("--make", type=float, default=None, metavar="FRACTION", help="write LIST first")
    ap.add_argument("--seed", type=int, default=20250, help="seed of --make")
    args = ap.parse_args(argv)
    docs = read_docs(args.source)
    if args.make is not None:
        make_list(docs, args.make, args.seed, args.list, args.source)
    wanted = read_list(args.list)
    have = {k for k, _ in docs}
    for lineno, key in wanted:
        if key not in have:
            print(f"error: {args.list}:{lineno}: doc_key {key!r} is not in {args.source}", file=sys.stderr)
            return 2
    keys = {k for _, k in wanted}
    out = args.out or ROOT / "runs" / f"{args.list.stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    kept = [raw if raw.endswith("\n") else raw + "\n" for k, raw in docs if k in keys]
    out.write_text("".join(kept), encoding="utf-8")
    n_sent = sum(len(json.loads(raw)["sentences"]) for raw in kept)
    print(f"wrote {out}: {len(kept)} documents, {n_sent} sentences")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
