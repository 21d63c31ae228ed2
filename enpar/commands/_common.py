"""Helpers shared by command modules (not a command itself: enpar.cli lists its commands)."""

from __future__ import annotations

import json
from typing import Any


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
