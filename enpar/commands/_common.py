"""Helpers shared by command modules (not a command itself: enpar.cli lists its commands)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from enpar.decoding import parse_on_off


def parse_setting(item: str) -> tuple[str, Any]:
    """One `--set KEY=VALUE`: the value read as JSON (a bare string where that fails, a list as a tuple)."""
    key, sep, raw = item.partition("=")
    if not sep:
        raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # bare strings
    if isinstance(value, list):
        value = tuple(value)
    return key, value


def on_off(value: str) -> bool:
    """An on/off option's value (also true/false, yes/no, 1/0)."""
    try:
        return parse_on_off(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}") from None


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """--document-type-vote: override the checkpoint's decoding (its decoding.json, enpar.decoding)."""
    parser.add_argument(
        "--document-type-vote",
        type=on_off,
        default=None,
        metavar="{on,off}",
        help="on: mentions with the same words in one document get one type, their mean type "
        "distribution's argmax (default: the checkpoint's decoding.json; off without one)",
    )


def decoding_overrides(args: argparse.Namespace) -> dict[str, bool | None]:
    """The Predictor.from_checkpoints keywords of add_decoding_arguments."""
    return {"document_type_vote": args.document_type_vote}
