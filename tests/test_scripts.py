"""The shell scripts: valid bash, and the shared fine-tuning setting is something `enpar finetune` accepts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from enpar.cli import build_parser
from enpar.commands.finetune import _overrides

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


def _setting(env: dict[str, str] | None = None) -> tuple[str, str]:
    out = subprocess.run(
        ["bash", "-c", 'source scripts/finetune_setting.sh && printf "%s\\n%s" "$FT_EPOCHS" "$FT_ARGS"'],
        cwd=ROOT,
        env=env or {},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    epochs, args = out.split("\n")
    return epochs, args


def test_finetune_setting_is_valid_cli_input() -> None:
    epochs, args = _setting()
    parsed = build_parser().parse_args(["finetune", "--out", "x", "--epochs", epochs, *shlex.split(args)])
    _, ft = _overrides(parsed)
    assert ft == {"epochs": 15, "batch_size": 8, "lr": 5e-5}


def test_finetune_setting_yields_to_the_environment() -> None:
    assert _setting({"FT_EPOCHS": "2", "FT_ARGS": "--lr 1e-4"}) == ("2", "--lr 1e-4")
