"""Helpers shared by command modules (not a command itself: enpar.cli lists its commands)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from enpar.config import TAG_DECODERS, THRESHOLDS, parse_threshold


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
        return bool(parse_threshold("document_type_vote", value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}") from None


def add_threshold_arguments(parser: argparse.ArgumentParser) -> None:
    """--entity-none-bias / --tag-outside-bias / --tag-decoder / --relation-none-bias /
    --document-type-vote: override a checkpoint's decision settings."""
    parser.add_argument(
        "--entity-none-bias",
        type=float,
        default=None,
        help="added to the None logit of entity typing (default: the checkpoint's, usually 0)",
    )
    parser.add_argument(
        "--tag-outside-bias",
        type=float,
        default=None,
        help="added to the span tagger's O logit; negative = more spans (default: the checkpoint's)",
    )
    parser.add_argument(
        "--tag-decoder",
        choices=TAG_DECODERS,
        default=None,
        help="tags -> spans: lenient (argmax tags, chunked) or viterbi (best valid BIEOU sequence); "
        "default: the checkpoint's",
    )
    parser.add_argument(
        "--relation-none-bias",
        type=float,
        default=None,
        help="added to the None logit of relation typing; negative = more relations "
        "(default: the checkpoint's)",
    )
    parser.add_argument(
        "--document-type-vote",
        type=on_off,
        default=None,
        metavar="{on,off}",
        help="on: mentions with the same words in one document get one type, their mean type "
        "distribution's argmax (default: the checkpoint's, usually off)",
    )


def threshold_overrides(args: argparse.Namespace) -> dict[str, float | str | bool | None]:
    """The Predictor.from_checkpoint keywords of add_threshold_arguments."""
    return {name: getattr(args, name) for name in THRESHOLDS}  # each option's dest is the field's name
