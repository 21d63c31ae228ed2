"""Write a teacher's distributions over the training sentences for distillation (enpar.distill): one
checkpoint or several read as one ensemble (probabilities averaged stage by stage).

    .venv/bin/python scripts/teacher_targets.py runs/scierc-NAME-seed{5228,5229,5230,5231}/best \
        --data ../shared/data/scierc/train.json --out runs/teacher-NAME.jsonl [--temperature 2]
    enpar finetune ... --set teacher=runs/teacher-NAME.jsonl --set distill_weight=0.5

The teacher's decision settings (thresholds, decoder) are the first checkpoint's; they only choose which
predicted spans get targets beside the gold ones. Shows progress; prints the counts and the time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from enpar.distill import teacher_targets, write_targets
from enpar.ensemble import Ensemble
from enpar.predict import Predictor
from enpar.readers import read_dataset
from enpar.runtime import setup_torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path, metavar="CKPT", help="fine-tuned checkpoints")
    parser.add_argument("--data", type=Path, required=True, help="training data (any format enpar reads)")
    parser.add_argument("--out", type=Path, required=True, help="targets file to write (JSON lines)")
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="members' logits / T before the softmax; >1 softens near one-hot targets (the student matches)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="sentences per forward pass")
    parser.add_argument("--device", default=None, help="cpu, cuda (default: GPU when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    setup_torch()
    started = time.perf_counter()
    sentences = read_dataset(args.data)
    predictor = Predictor.from_checkpoints(args.checkpoints, device=args.device, batch_size=args.batch_size)
    teacher = predictor.model if isinstance(predictor.model, Ensemble) else Ensemble([predictor.model])
    examples = predictor.examples(sentences, predictor.labels)
    bar = None if args.no_progress else tqdm(total=len(examples), desc="teacher", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - bar.n)

    targets = teacher_targets(
        teacher,
        examples,
        predictor.specials,
        device=predictor.device,
        batch_size=args.batch_size,
        temperature=args.temperature,
        progress=progress,
    )
    if bar is not None:
        bar.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_targets(
        args.out,
        examples,
        targets,
        predictor.labels,
        teachers=[str(c.resolve()) for c in args.checkpoints],
        data=str(args.data.resolve()),
    )
    n_ent = sum(len(t.entities) for t in targets)
    n_pairs = sum(len(t.pairs) for t in targets)
    seconds = time.perf_counter() - started
    print(f"{args.out}: {len(targets)} sentences, {n_ent} spans, {n_pairs} pairs ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
