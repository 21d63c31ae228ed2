"""Background evaluation runs: a SQLite record per run and a worker process that runs `enpar evaluate`.

The page script only inserts a row and spawns `python -m app.run_worker DB ID` in its own session; the
worker (app/run_worker.py) runs the command, keeps the row current and writes the final status. So runs
survive app restarts, and `reconcile()` marks a run whose worker vanished (e.g. a machine reboot). Each
run writes to its own folder, and the database is in WAL mode with short transactions, so concurrent
runs never corrupt it.

Before a run starts, its checkpoint and data are checked (app.run_checks); an identical active run is
reused unless forced; `retry` runs a failed, cancelled or stale run again as a new one.
Not a Streamlit module: no `import streamlit`, so the worker starts fast and tests need no app.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from app import run_checks

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "studio-runs.sqlite"
EVAL_DIR = "evaluations"
ACTIVE = ("queued", "running")
STATUSES = ("queued", "running", "done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    who TEXT NOT NULL,
    checkpoint TEXT NOT NULL,
    checkpoint_name TEXT NOT NULL,
    dataset TEXT NOT NULL,
    split TEXT NOT NULL,
    out_dir TEXT NOT NULL DEFAULT '',
    command TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'queued',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    pid INTEGER,
    returncode INTEGER,
    error TEXT NOT NULL DEFAULT '',
    cancel_requested INTEGER NOT NULL DEFAULT 0
)
"""
# Columns added after the first release: (name, SQL type and default), added to older databases on open.
_ADDED = (
    ("kind", "TEXT NOT NULL DEFAULT 'evaluate'"),  # "evaluate" or "starter" (app.starter)
    ("template", "TEXT NOT NULL DEFAULT ''"),  # argv with "{out}": what a retry runs again
    ("gold_stamp", "TEXT NOT NULL DEFAULT ''"),  # sha256 of the data file when the run started
    ("checkpoint_stamp", "TEXT NOT NULL DEFAULT ''"),  # size:mtime of the weights when it started
)


@dataclass(frozen=True)
class Run:
    """One row of the runs table."""

    id: int
    who: str
    checkpoint: str
    checkpoint_name: str
    dataset: str
    split: str
    out_dir: str
    command: str
    status: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    pid: int | None
    returncode: int | None
    error: str
    cancel_requested: int
    kind: str = "evaluate"
    template: str = ""
    gold_stamp: str = ""
    checkpoint_stamp: str = ""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (or to now while running)."""
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @property
    def out(self) -> Path:
        return Path(self.out_dir)

    @property
    def predictions(self) -> Path:
        return self.out / "predictions.jsonl"

    @property
    def metrics(self) -> Path:
        return self.out / "metrics.json"

    @property
    def log(self) -> Path:
        return self.out / "log.txt"

    def progress(self) -> dict[str, Any]:
        """The run's progress.json ({"done", "total", "stage"}), or {} before the command writes it."""
        try:
            data = json.loads((self.out / "progress.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        # tqdm redraws with carriage returns: keep the last state of each line.
        return "\n".join(line.rsplit("\r", 1)[-1] for line in lines[-n:])


_COLUMNS = [f.name for f in fields(Run)]


class RunStore:
    """The runs database (one short-lived connection per operation)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("PRAGMA journal_mode=WAL")  # readers never block the writing worker
            con.execute(_SCHEMA)
            have = {row[1] for row in con.execute("PRAGMA table_info(runs)")}
            for name, decl in _ADDED:
                if name not in have:
                    with contextlib.suppress(sqlite3.OperationalError):  # another process added it first
                        con.execute(f"ALTER TABLE runs ADD COLUMN {name} {decl}")

    @classmethod
    def for_runs_dir(cls, runs_dir: str | Path) -> RunStore:
        return cls(Path(runs_dir) / DB_NAME)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout=30000")
            yield con
        finally:
            con.close()

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")  # take the write lock up front: no upgrade deadlocks
            try:
                cur = con.execute(sql, params)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            return int(cur.lastrowid or 0)

    def create(
        self, *, who: str, checkpoint: str, checkpoint_name: str, dataset: str, split: str, **extra: str
    ) -> Run:
        """A queued row; `extra`: any of the later columns (kind, template, gold_stamp, checkpoint_stamp)."""
        bad = set(extra) - {name for name, _ in _ADDED}
        if bad:
            raise KeyError(f"unknown run columns {sorted(bad)}")
        names = ["who", "checkpoint", "checkpoint_name", "dataset", "split", "created_at", *extra]
        values = [who, checkpoint, checkpoint_name, dataset, split, time.time(), *extra.values()]
        run_id = self._write(
            f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values
        )
        return self.get(run_id)

    def update(self, run_id: int, **values: Any) -> None:
        bad = set(values) - set(_COLUMNS)
        if bad:
            raise KeyError(f"unknown run columns {sorted(bad)}")
        assignments = ", ".join(f"{k} = ?" for k in values)
        self._write(f"UPDATE runs SET {assignments} WHERE id = ?", (*values.values(), run_id))

    def finish(self, run_id: int, *, status: str, returncode: int | None = None, error: str = "") -> None:
        """Write a final status once: a run that already finished keeps its first verdict."""
        self._write(
            "UPDATE runs SET status = ?, returncode = ?, error = ?, finished_at = ?"
            " WHERE id = ? AND status IN ('queued', 'running')",
            (status, returncode, error, time.time(), run_id),
        )

    def set_pid_if_missing(self, run_id: int, pid: int) -> None:
        self._write("UPDATE runs SET pid = ? WHERE id = ? AND pid IS NULL", (pid, run_id))

    def get(self, run_id: int) -> Run:
        with self._connect() as con:
            row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id}")
        return Run(*row)

    def runs(self, *, status: str | None = None, limit: int = 500) -> list[Run]:
        """Newest first."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM runs"
        params: tuple[Any, ...] = ()
        if status:
            sql += " WHERE status = ?"
            params = (status,)
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        return [Run(*row) for row in rows]


# ---------------------------------------------------------------------------------------------------------
# Starting, cancelling and reconciling runs (called from the app)


def whoami() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def evaluate_command(checkpoint: str | Path, dataset: str | Path, out_dir: str | Path) -> list[str]:
    """The argv of one evaluation (the same as `enpar evaluate CKPT DATA --out DIR`)."""
    return [
        sys.executable,
        "-m",
        "enpar.cli",
        "evaluate",
        str(checkpoint),
        str(dataset),
        "--out",
        str(out_dir),
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "run"


class RunError(ValueError):
    """A run that must not start (its checkpoint or data is unusable); the message says what and where."""


def identical_active(
    store: RunStore,
    *,
    checkpoint: str | Path,
    dataset: str | Path,
    kind: str = "evaluate",
    command: list[str] | None = None,
    checkpoint_name: str | None = None,
) -> Run | None:
    """The queued or running run with the same kind, checkpoint (and name), data and command, if any."""
    template = json.dumps(command or evaluate_command(checkpoint, dataset, "{out}"))
    for run in store.runs(limit=200):
        same = (run.kind, run.checkpoint, run.dataset) == (kind, str(checkpoint), str(dataset))
        named = checkpoint_name is None or run.checkpoint_name == checkpoint_name
        if run.active and same and named and (run.template or template) == template:
            return run
    return None


def start_run(
    store: RunStore,
    *,
    checkpoint: str | Path,
    checkpoint_name: str | None = None,
    dataset: str | Path,
    split: str,
    who: str | None = None,
    command: list[str] | None = None,
    kind: str = "evaluate",
    force: bool = False,
) -> Run:
    """Record a run and spawn its worker; returns at once.

    An evaluation is checked first (RunError naming the file, line and field of bad data, or what the
    checkpoint lacks). Unless `force`, an identical active run (identical_active) is returned instead of
    starting a second one: a stray double click costs nothing. The gold file's digest and the weights'
    stamp are recorded, so stale_reason can tell later whether the scores still hold.
    `command` replaces `enpar evaluate` (tests, the starter pair); "{out}" in it becomes the output folder.
    """
    name = checkpoint_name or run_checks.checkpoint_name(checkpoint)
    if not force:
        same = {"checkpoint": checkpoint, "dataset": dataset, "kind": kind, "command": command}
        existing = identical_active(store, **same, checkpoint_name=name)
        if existing is not None:
            return existing
    if kind == "evaluate" and command is None:
        check_inputs(checkpoint, dataset)
    template = command or evaluate_command(checkpoint, dataset, "{out}")
    run = store.create(
        who=who or whoami(),
        checkpoint=str(checkpoint),
        checkpoint_name=name,
        dataset=str(dataset),
        split=split,
        kind=kind,
        template=json.dumps(template),
        gold_stamp=run_checks.file_digest(dataset) if kind == "evaluate" else "",
        checkpoint_stamp=run_checks.weights_stamp(checkpoint) if kind == "evaluate" else "",
    )
    return _spawn(store, run, template)


def _spawn(store: RunStore, run: Run, template: list[str]) -> Run:
    out_dir = store.path.parent / EVAL_DIR / f"{run.id:05d}-{_slug(run.checkpoint_name)}-{_slug(run.split)}"
    argv = [a.replace("{out}", str(out_dir)) for a in template]
    store.update(run.id, out_dir=str(out_dir), command=json.dumps(argv))
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "worker.txt").open("ab") as worker_log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.run_worker", str(store.path), str(run.id)],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: survives the app, and cancel kills the group
        )
    store.set_pid_if_missing(run.id, proc.pid)  # the worker may already have written its own
    # Reap it when it ends so it doesn't linger as a zombie that still looks alive to reconcile().
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-run-{run.id}").start()
    return store.get(run.id)


def retry(store: RunStore, run_id: int, *, who: str | None = None) -> Run:
    """Run a finished run again as a new run (same kind, checkpoint, data and command): "Retry" for a
    failed or cancelled run, "Re-evaluate" for a stale one. An identical active run is reused."""
    old = store.get(run_id)
    if old.active:
        return old
    if old.kind == "evaluate":
        check_inputs(old.checkpoint, old.dataset)
    return start_run(
        store,
        checkpoint=old.checkpoint,
        checkpoint_name=old.checkpoint_name,
        dataset=old.dataset,
        split=old.split,
        who=who,
        command=json.loads(old.template) if old.template else None,
        kind=old.kind,
    )


def check_inputs(checkpoint: str | Path, dataset: str | Path) -> None:
    """RunError unless the checkpoint is complete and the data readable (file, line and field named)."""
    problem = run_checks.check_checkpoint(checkpoint)
    data = run_checks.check_dataset(dataset)
    if problem or not data.ok:
        raise RunError(problem or f"the data cannot be evaluated on: {data.message}")


def pid_alive(pid: int | None) -> bool:
    """True if pid runs and is not a zombie."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust kill(0)
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def cancel(store: RunStore, run_id: int) -> Run:
    """Ask the worker to stop (SIGTERM to its process group); it records 'cancelled'."""
    run = store.get(run_id)
    if not run.active:
        return run
    store.update(run_id, cancel_requested=1)
    if pid_alive(run.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pid, signal.SIGTERM)  # type: ignore[arg-type]
        # A worker killed before it set its signal handler records nothing: record it here.
        for _ in range(20):
            if not pid_alive(run.pid) or not store.get(run_id).active:
                break
            time.sleep(0.1)
    if not pid_alive(run.pid):
        store.finish(run_id, status="cancelled", error="cancelled")
    return store.get(run_id)


def reconcile(store: RunStore, *, grace_s: float = 30.0) -> list[int]:
    """Close runs whose worker is gone (app or machine restart); returns the ids changed."""
    changed = []
    for run in store.runs():
        if not run.active or pid_alive(run.pid):
            continue
        if run.pid is None and time.time() - run.created_at < grace_s:
            continue  # just created; its worker pid is being recorded
        if run.metrics.exists() and run.progress().get("stage") == "done":
            store.finish(run.id, status="done", returncode=0)
        elif run.cancel_requested:
            store.finish(run.id, status="cancelled", error="cancelled")
        else:
            store.finish(
                run.id,
                status="failed",
                error=f"the worker (pid {run.pid}) is gone: the app or machine restarted mid-run",
            )
        changed.append(run.id)
    return changed
