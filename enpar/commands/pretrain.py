"""`enpar pretrain CORPUS --out RUN [--objectives] [--steps] [--accumulate] ... [--resume]`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = (
    "ENPAR pre-training (MET, MEP, PP, ACD), or the MLM control arm, on an `enpar annotate` corpus; "
    "torchrun for several processes"
)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "corpus", nargs="?", type=Path, help="annotated JSONL file, or a folder of *.jsonl shards"
    )
    parser.add_argument("--out", type=Path, required=True, help="run folder (new unless --resume)")
    parser.add_argument("--encoder", default=None, help="'minilm' (default), an encoder folder or a hub name")
    parser.add_argument(
        "--objectives",
        default=None,
        help="comma-separated subset of mep,met,pp,acd (default all four); e.g. the paper's '- ACD' "
        "ablation is --objectives mep,met,pp; 'mlm' alone: the domain-adapted BERT control (masked LM on "
        "the same sentences, steps, batch and schedule; sum(micro-batch) sentences per micro-step)",
    )
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 10000)")
    parser.add_argument(
        "--accumulate",
        type=int,
        default=None,
        help="micro-steps per optimizer step over all processes (default 16: 16 x (9+9+9+5) = 512)",
    )
    parser.add_argument(
        "--micro-batch",
        type=_ints,
        default=None,
        metavar="MEP,MET,PP,ACD",
        help="instances per micro-step and objective (default 9,9,9,5 as the authors' code)",
    )
    parser.add_argument(
        "--loss-weights",
        type=_floats,
        default=None,
        metavar="MEP,MET,PP,ACD",
        help="weights of the summed losses (default 1,1,1,1, the paper's plain sum; the code: 9,9,9,5)",
    )
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default 5e-5)")
    parser.add_argument("--warmup", type=float, default=None, help="warmup fraction of --steps (default 0.1)")
    parser.add_argument(
        "--acd-loss",
        choices=("paper", "code"),
        default=None,
        help="paper: hinge [1 - s(pos) + s(neg)]_+ (default); code: relu(5 - |s(neg) - s(pos)|)",
    )
    parser.add_argument(
        "--save-every", type=int, default=None, help="steps between checkpoints (default: at 25/50/75/100%%)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    parser.add_argument(
        "--streams",
        type=int,
        default=None,
        help="corpus streams (default: one per process); a 1-process run with --streams N reproduces an "
        "N-process run",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any ModelConfig / PretrainConfig / PretrainDataConfig field, value as JSON "
        "(e.g. --set min_entities=2 --set acd_ns=3 --set met_mask=0.15)",
    )
    parser.add_argument(
        "--stop-at",
        type=int,
        default=None,
        metavar="STEP",
        help="stop after this step (checkpoint + state written) to time-box a run; --resume continues it",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: GPU when available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--plot", action="store_true", help="only redraw RUN/loss_curves.png from RUN/log.jsonl and exit"
    )


def _settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from dataclasses import fields

    from enpar.commands._common import parse_setting
    from enpar.config import ModelConfig
    from enpar.pretrain import PretrainConfig
    from enpar.pretrain_data import PretrainDataConfig

    groups: list[tuple[set[str], dict[str, Any]]] = [
        ({f.name for f in fields(ModelConfig)}, {}),
        ({f.name for f in fields(PretrainConfig)}, {}),
        ({f.name for f in fields(PretrainDataConfig)}, {}),
    ]
    for item in args.set:
        key, value = parse_setting(item)
        targets = [kw for names, kw in groups if key in names]
        if not targets:
            known = sorted(set().union(*(names for names, _ in groups)))
            raise SystemExit(f"--set: unknown setting {key!r}; known: {known}")
        for kw in targets:  # `seed` lives in both the loop and the data config
            kw[key] = value
    model_kw, loop_kw, data_kw = (kw for _, kw in groups)
    if args.encoder is not None:
        model_kw["encoder"] = args.encoder
    if args.objectives is not None:
        loop_kw["objectives"] = tuple(t.strip().lower() for t in args.objectives.split(",") if t.strip())
    for name, key in (
        ("steps", "steps"),
        ("accumulate", "accumulate"),
        ("micro_batch", "micro_batch"),
        ("loss_weights", "loss_weights"),
        ("lr", "lr"),
        ("warmup", "warmup"),
        ("acd_loss", "acd_loss"),
        ("save_every", "save_every"),
        ("streams", "streams"),
    ):
        if getattr(args, name) is not None:
            loop_kw[key] = getattr(args, name)
    if args.seed is not None:
        loop_kw["seed"] = data_kw["seed"] = args.seed
    data_kw.setdefault("seed", loop_kw.get("seed", 0))
    return model_kw, loop_kw, data_kw


def run(args: argparse.Namespace) -> int:
    import sys

    if args.plot:
        from enpar.lossplot import plot_losses

        png = plot_losses(args.out / "log.jsonl", args.out / "loss_curves.png")
        print(f"wrote {png}")
        return 0
    from enpar.runtime import setup_torch

    setup_torch(args.threads)
    from enpar.pretrain import PretrainConfig, pretrain, pretraining_model_config
    from enpar.pretrain_data import PretrainDataConfig
    from enpar.runtime import process_group_scope

    model_kw, loop_kw, data_kw = _settings(args)
    if not args.resume and args.corpus is None:
        raise SystemExit("enpar pretrain: CORPUS is required (unless --resume)")
    try:
        config = PretrainConfig(**loop_kw)
        data_config = PretrainDataConfig(**data_kw)
        model_config = pretraining_model_config(**model_kw)
    except (TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with process_group_scope():
        summary = pretrain(
            args.corpus or "",
            args.out,
            model_config=model_config,
            config=config,
            data_config=data_config,
            resume=args.resume,
            device=args.device,
            show_progress=not args.no_progress,
            stop_at=args.stop_at,
        )
    import os

    if os.environ.get("RANK", "0") == "0":  # the process group is gone: ask torchrun's variable
        print(json.dumps(summary, indent=2))
    return 0
