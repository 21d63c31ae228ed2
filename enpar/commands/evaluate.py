"""`enpar evaluate CKPT [CKPT ...] DATA --out DIR`: predictions.jsonl, metrics.json and a live progress.json.
Several checkpoints are read as one model (enpar.ensemble)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from enpar.commands._common import add_decoding_arguments, decoding_overrides

HELP = (
    "Predict a dataset with a fine-tuned checkpoint (or an ensemble of several) and score it "
    "(predictions.jsonl, metrics.json)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoints",
        type=Path,
        nargs="+",
        metavar="CKPT",
        help="fine-tuned checkpoint folder (e.g. RUN/best); several: an ensemble, their probabilities "
        "averaged at each stage, decoded as the first one's decoding.json says",
    )
    parser.add_argument(
        "data", type=Path, metavar="DATA", help="gold data file (any format enpar.readers reads)"
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--format", default="auto", help="DATA format (default: detected)")
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per forward pass")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: GPU when available)")
    add_decoding_arguments(parser)
    parser.add_argument(
        "--symmetric",
        choices=("directed", "unordered", "doubled"),
        default="directed",
        help="scoring of symmetric relation types (default: directed, as in the paper)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap samples for CIs (0: none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from enpar.runtime import setup_torch

    setup_torch()
    from tqdm import tqdm

    from enpar.datasets import symmetric_labels_for
    from enpar.metrics import report
    from enpar.predict import Predictor
    from enpar.readers import read_dataset
    from enpar.report_text import format_report
    from enpar.schema import write_jsonl

    out: Path = args.out
    gold = read_dataset(args.data, format=args.format)  # bad data fails before anything is written
    out.mkdir(parents=True, exist_ok=True)
    progress_path = out / "progress.json"
    _write_json(progress_path, {"done": 0, "total": len(gold), "stage": "predict"})
    predictor = Predictor.from_checkpoints(
        args.checkpoints,
        device=args.device,
        batch_size=args.batch_size,
        **decoding_overrides(args),
    )
    bar = (
        None
        if args.no_progress
        else tqdm(total=len(gold), desc="predict", file=sys.stderr, dynamic_ncols=True)
    )

    def progress(done: int, total: int) -> None:
        _write_json(progress_path, {"done": done, "total": total, "stage": "predict"})
        if bar is not None:
            bar.update(done - bar.n)

    pred = predictor.predict_sentences(gold, progress=progress)
    if bar is not None:
        bar.close()
    write_jsonl(pred, out / "predictions.jsonl")
    _write_json(progress_path, {"done": len(gold), "total": len(gold), "stage": "score"})
    rep = report(
        gold,
        pred,
        symmetric=args.symmetric,
        symmetric_labels=symmetric_labels_for(args.data),
        n_bootstrap=args.bootstrap,
    )
    rep.setdefault("source", {}).update(
        {
            # "checkpoint" names a single model's evaluation (the app attributes folders by it)
            **({"checkpoint": str(args.checkpoints[0].resolve())} if len(args.checkpoints) == 1 else {}),
            "checkpoints": [str(c.resolve()) for c in args.checkpoints],
            "data": str(Path(args.data).resolve()),
            **predictor.decoding.to_dict(),  # how it was decoded (decoding.json + overrides)
        }
    )
    _write_json(out / "metrics.json", rep)
    _write_json(progress_path, {"done": len(gold), "total": len(gold), "stage": "done"})
    print(format_report(rep))
    return 0
