"""The shell scripts: valid bash; the shared fine-tuning setting, as the app shows it, is CLI input."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from app.ui import finetune_budget_args, make_checkpoint_commands
from enpar.cli import build_parser
from enpar.commands.finetune import _overrides

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_finetune_setting_is_valid_cli_input(monkeypatch: pytest.MonkeyPatch) -> None:
    # The app shows these flags in its "make a checkpoint" commands; the scripts source the same file.
    monkeypatch.delenv("FT_EPOCHS", raising=False)
    monkeypatch.delenv("FT_ARGS", raising=False)
    args = finetune_budget_args()
    parsed = build_parser().parse_args(["finetune", "--out", "x", *shlex.split(args)])
    _, ft = _overrides(parsed)
    assert ft == {"epochs": 15, "batch_size": 8, "lr": 5e-5}
    assert args in make_checkpoint_commands()


def test_finetune_setting_yields_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FT_EPOCHS", "2")
    monkeypatch.setenv("FT_ARGS", "--lr 1e-4")
    assert finetune_budget_args() == "--epochs 2 --lr 1e-4"
