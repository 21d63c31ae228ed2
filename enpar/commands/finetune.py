"""`enpar finetune --train --dev --out [--preset] [--encoder] [--init] [--epochs] [--seed] ... [--resume]`.

Settings, lowest to highest: the paper's defaults (enpar.config), the --preset (enpar.presets), the
explicit flags and --set."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "Fine-tune the joint entity-relation model (the BERT baseline, or ENPAR with --init)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", type=Path, help="training data (any format enpar.readers reads)")
    parser.add_argument("--dev", type=Path, help="development data (model selection)")
    parser.add_argument(
        "--out", type=Path, required=True, help="run folder (created; must be new unless --resume)"
    )
    parser.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="a named setting (enpar.presets: scierc-cpu, paper); flags and --set override it; its "
        "prediction-time decoding goes to best/decoding.json",
    )
    parser.add_argument(
        "--encoder", default=None, help="'minilm' (default), a local encoder folder or a hub name"
    )
    parser.add_argument(
        "--init", default=None, metavar="CKPT", help="pre-trained ENPAR checkpoint (kind 'pretrain')"
    )
    parser.add_argument(
        "--init-mode",
        choices=("full", "sentence"),
        default="full",
        help="with --init: all encoder.* weights (full) or the sentence encoder only (the paper's '- CNN')",
    )
    parser.add_argument("--epochs", type=int, default=None, help="epoch budget (default: the paper's 200)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default 5216)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="sentences per optimizer step (default 32)"
    )
    parser.add_argument("--lr", type=float, default=None, help="top learning rate (default 2.5e-5)")
    parser.add_argument("--patience", type=int, default=None, help="dev evaluations without improvement")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any ModelConfig / FinetuneConfig field, value as JSON (e.g. --set warmup=0.1)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: GPU when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _overrides(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ModelConfig, FinetuneConfig) keywords: the preset's, then the flags and --set on top."""
    from dataclasses import fields

    from enpar.commands._common import parse_setting
    from enpar.config import REMOVED_IN, REMOVED_OPTIONS, FinetuneConfig, ModelConfig
    from enpar.presets import get_preset

    model_keys = {f.name for f in fields(ModelConfig)}
    ft_keys = {f.name for f in fields(FinetuneConfig)}
    model_kw: dict[str, Any] = {}
    ft_kw: dict[str, Any] = {}
    for item in args.set:
        key, value = parse_setting(item)
        if key in model_keys:
            model_kw[key] = value
        elif key in ft_keys:
            ft_kw[key] = value
        elif any(key in removed for removed in REMOVED_OPTIONS.values()):
            raise SystemExit(
                f"--set: option {key!r} was not adopted on dev and has been removed "
                f"(commit {REMOVED_IN} still has it; docs/experiments.md)"
            )
        else:
            raise SystemExit(f"--set: unknown setting {key!r}; known: {sorted(model_keys | ft_keys)}")
    if args.encoder is not None:
        model_kw["encoder"] = args.encoder
    for name in ("epochs", "seed", "batch_size", "lr", "patience"):
        if getattr(args, name) is not None:
            ft_kw[name] = getattr(args, name)
    if args.preset is not None and not args.resume:  # a resumed run keeps its own settings
        try:
            preset = get_preset(args.preset)
        except ValueError as exc:
            raise SystemExit(f"--preset: {exc}") from None
        model_kw = {**preset.model, **model_kw}
        ft_kw = {"epochs": preset.epochs, **preset.finetune, **ft_kw}
    return model_kw, ft_kw


def run(args: argparse.Namespace) -> int:
    from enpar.runtime import setup_torch

    setup_torch()
    from enpar.config import FinetuneConfig, ModelConfig
    from enpar.finetune import finetune
    from enpar.readers import read_dataset
    from enpar.runtime import is_main, process_group_scope

    model_kw, ft_kw = _overrides(args)
    if args.resume:
        train_path, dev_path = args.train, args.dev
        if train_path is None or dev_path is None:
            saved = json.loads((args.out / "config.json").read_text(encoding="utf-8")).get("data", {})
            train_path = train_path or Path(saved["train"])
            dev_path = dev_path or Path(saved["dev"])
        epochs = ft_kw.get("epochs")
        if epochs is None:
            saved_cfg = json.loads((args.out / "config.json").read_text(encoding="utf-8"))
            epochs = saved_cfg["finetune"]["epochs"]
        config = FinetuneConfig(epochs=epochs)
    else:
        if args.train is None or args.dev is None:
            raise SystemExit("enpar finetune: --train and --dev are required (unless --resume)")
        train_path, dev_path = args.train, args.dev
        config = FinetuneConfig(**ft_kw)
    train = read_dataset(train_path)
    dev = read_dataset(dev_path)
    with process_group_scope():
        summary = finetune(
            train,
            dev,
            args.out,
            model_config=ModelConfig(**model_kw),
            config=config,
            init=args.init,
            init_mode=args.init_mode,
            resume=args.resume,
            preset=args.preset,
            requested=set(model_kw),
            device=args.device,
            show_progress=not args.no_progress,
            data_paths={"train": str(Path(train_path).resolve()), "dev": str(Path(dev_path).resolve())},
        )
        main_rank = is_main()  # decided before the process group goes away
    if main_rank:
        print(json.dumps(summary, indent=2))
    return 0
