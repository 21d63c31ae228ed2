"""The worker process of one run: `python -m app.run_worker DB RUN_ID` (spawned by app.runs.start_run).

It runs the recorded command with its output in the run's log, keeps the row current, stops the command
on SIGTERM (cancel) and writes the final status once. No streamlit import: it starts fast.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from app.runs import PROJECT_ROOT, Run, RunStore


def _error_from_log(run: Run, returncode: int) -> str:
    """The most telling line of a failed run's log (the last 'error'/exception line, else the last line)."""
    lines = [ln.strip() for ln in run.log_tail(200).splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.match(r"^(error:|\w+(Error|Exception)\b)", line):
            return line
    return lines[-1] if lines else f"exited with status {returncode}"


def work(db: str | Path, run_id: int) -> int:
    """Run one recorded evaluation to its end, keeping the row current."""
    store = RunStore(db)
    run = store.get(run_id)
    argv = json.loads(run.command)
    run.out.mkdir(parents=True, exist_ok=True)
    store.update(run_id, status="running", started_at=time.time(), pid=os.getpid())
    cancelled = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        cancelled.set()

    signal.signal(signal.SIGTERM, on_term)
    env = dict(os.environ, PYTHONUNBUFFERED="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with run.log.open("ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            child = subprocess.Popen(
                argv,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        except OSError as exc:
            store.finish(run_id, status="failed", error=f"could not start {argv[0]}: {exc}")
            return 1
        ticks = 0
        while child.poll() is None:
            ticks += 1
            if cancelled.is_set() or (ticks % 5 == 0 and store.get(run_id).cancel_requested):
                _stop(child)
                break
            time.sleep(0.2)
    rc = child.wait()
    run = store.get(run_id)
    if cancelled.is_set() or run.cancel_requested:
        store.finish(run_id, status="cancelled", returncode=rc, error="cancelled")
    elif rc == 0 and (run.kind != "evaluate" or run.metrics.exists()):
        store.finish(run_id, status="done", returncode=0)
    elif rc == 0:
        store.finish(run_id, status="failed", returncode=0, error="finished without writing metrics.json")
    else:
        store.finish(run_id, status="failed", returncode=rc, error=_error_from_log(run, rc))
    return 0


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m app.run_worker DB RUN_ID", file=sys.stderr)
        return 2
    try:
        return work(args[0], int(args[1]))
    except Exception as exc:  # record why, rather than leave the run for reconcile() to guess
        RunStore(args[0]).finish(int(args[1]), status="failed", error=f"worker error: {exc!r}")
        raise


if __name__ == "__main__":
    sys.exit(main())
