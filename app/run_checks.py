"""Checks around evaluation runs: is the data readable before a run is offered, is a checkpoint complete,
has a finished run gone stale (its gold or checkpoint changed since), and what stage a run is in.

No streamlit and no torch: the runs worker and the sidebar both use it, and it must stay fast.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from enpar.schema import DataError

if TYPE_CHECKING:
    from app.runs import Run

CONFIG, WEIGHTS = "config.json", "model.safetensors"


@dataclass(frozen=True)
class DataCheck:
    """Whether a data file can be evaluated on: its sentence count, or the problem (file, line, field)."""

    ok: bool
    n_sentences: int = 0
    message: str = ""
    error: DataError | None = None


def describe_data_error(exc: DataError) -> str:
    """'file F, line L, field X: reason' with the parts that are known."""
    where = [f"file {exc.path}" if exc.path else "", f"line {exc.line}" if exc.line else ""]
    where.append(f"field {exc.field}" if exc.field else "")
    place = ", ".join(w for w in where if w)
    return f"{place}: {exc.reason}" if place else str(exc.reason)


def check_dataset(path: str | Path) -> DataCheck:
    """Read the file with enpar.readers (any known format), as `enpar evaluate` will; cached per file
    version, so the sidebar can call it on every rerun."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return DataCheck(False, message=f"file {path}: cannot be read ({exc.strerror or exc})")
    return _check_dataset(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _check_dataset(path: str, size: int, mtime_ns: int) -> DataCheck:
    from enpar.readers import read_dataset

    try:
        sentences = read_dataset(path)
    except DataError as exc:
        return DataCheck(False, message=describe_data_error(exc), error=exc)
    if not sentences:
        return DataCheck(False, message=f"file {path}: holds no sentences")
    return DataCheck(True, len(sentences), f"{len(sentences)} sentences")


def check_checkpoint(path: str | Path) -> str:
    """'' for a folder with a readable config.json and model.safetensors, else what is wrong."""
    folder = Path(path)
    if not (folder / WEIGHTS).is_file():
        return f"{folder}: no {WEIGHTS} (not a checkpoint folder)"
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{folder / CONFIG}: cannot be read ({exc})"
    return "" if isinstance(config, dict) else f"{folder / CONFIG}: not a JSON object"


def checkpoint_name(path: str | Path) -> str:
    """The name a checkpoint goes by: its config's run name, else its folder ("run/best" for a best/)."""
    folder = Path(path)
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        name = config.get("name") or config.get("run_name")
    except (OSError, ValueError, AttributeError):
        name = None
    if name:
        return str(name)
    return f"{folder.parent.name}/{folder.name}" if folder.name in ("best", "last") else folder.name


def file_digest(path: str | Path) -> str:
    """sha256 of a data file ('' when unreadable): a gold edit makes earlier scores stale. Cached per
    file version like check_dataset, since the Runs page asks on every rerun for every finished run."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return _file_digest(str(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def weights_stamp(checkpoint: str | Path) -> str:
    """size:mtime of the weights file ('' when missing): cheap, and any rewrite changes it."""
    try:
        st = os.stat(Path(checkpoint) / WEIGHTS)
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def stale_reason(run: Run) -> str:
    """Why a finished run's scores no longer describe its inputs ('' when they do, or are unknown)."""
    if run.status != "done" or run.kind != "evaluate":
        return ""
    reasons = []
    if run.gold_stamp and file_digest(run.dataset) != run.gold_stamp:
        gone = not Path(run.dataset).exists()
        reasons.append(f"the data file {'is gone' if gone else 'changed'} since the run ({run.dataset})")
    if run.checkpoint_stamp and weights_stamp(run.checkpoint) != run.checkpoint_stamp:
        reasons.append(f"the checkpoint's weights changed since the run ({run.checkpoint})")
    return "; ".join(reasons)


def stage_text(run: Run) -> str:
    """What a run is doing now, for its progress line: queued, loading models, predict i/N, scoring, ...

    `enpar evaluate` writes "predict 0/N" before it loads the models and again once they are loaded, and
    its first batch moves `done` off 0 within seconds: so 0 done reads as loading. A run with its own
    stages (the starter pair) writes them as text.
    """
    if run.status != "running":
        return run.status
    prog = run.progress()
    stage, done, total = str(prog.get("stage") or ""), prog.get("done", 0), prog.get("total", 0)
    if not stage or stage == "load" or (stage == "predict" and not done):
        return "loading models"
    if stage == "predict":
        return f"predict {done}/{total or '?'}"
    if stage == "score":
        return "scoring"
    return f"{stage} ({done}/{total})" if total else stage
