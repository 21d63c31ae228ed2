"""Loss curves from a pre-training log: the PNG, and a broken log line named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enpar.lossplot import plot_losses, read_log
from enpar.schema import DataError


def test_plot_losses_draws_one_panel_per_objective(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    rows = [{"step": s, "loss": 2.0 / s, "losses": {"mep": 1.0 / s, "acd": 0.5}} for s in range(1, 30)]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    png = plot_losses(log, tmp_path / "out" / "curves.png")
    assert png.read_bytes().startswith(b"\x89PNG")


def test_a_broken_log_line_names_file_and_line(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss": 1.0}\n\n{"step": 2, "loss":\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"log\.jsonl:3: invalid JSON"):
        read_log(log)
    log.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"log\.jsonl:1: expected a JSON object"):
        read_log(log)
