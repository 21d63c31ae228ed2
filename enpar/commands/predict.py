"""`enpar predict CKPT [--with CKPT ...] [TEXT | --file F]`: raw text in, canonical JSON lines out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from enpar.commands._common import add_decoding_arguments, decoding_overrides

HELP = "Extract entities and relations from raw text (spaCy sentence split) with a fine-tuned checkpoint."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, metavar="CKPT", help="fine-tuned checkpoint folder")
    parser.add_argument(
        "text", nargs="?", default=None, help="text to analyse (or use --file; '-' reads stdin)"
    )
    parser.add_argument("--file", type=Path, default=None, help="a UTF-8 text file (one document)")
    parser.add_argument(
        "--with",
        dest="also",
        type=Path,
        action="append",
        default=[],
        metavar="CKPT",
        help="another checkpoint to read with CKPT as one ensemble (repeatable; enpar.ensemble)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write JSON lines here instead of stdout")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per forward pass")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: GPU when available)")
    add_decoding_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if (args.text is None) == (args.file is None):
        raise SystemExit("enpar predict: give either TEXT or --file")
    if args.file:
        from enpar.schema import read_text

        text = read_text(args.file)
    else:
        text = sys.stdin.read() if args.text == "-" else args.text  # before loading torch and the model
    from enpar.runtime import setup_torch

    setup_torch()
    from enpar.predict import Predictor
    from enpar.schema import write_jsonl

    predictor = Predictor.from_checkpoints(
        [args.checkpoint, *args.also],
        device=args.device,
        batch_size=args.batch_size,
        **decoding_overrides(args),
    )
    sentences = predictor.predict(text)
    if args.out:
        write_jsonl(sentences, args.out)
    else:
        for sent in sentences:
            print(json.dumps(sent.to_json(), ensure_ascii=False))
    return 0
