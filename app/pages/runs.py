"""Runs: evaluation runs started from the sidebar: live progress, cancel, errors, and their scores."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app import reporting, run_checks, runs, state, ui


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run_scores(run: runs.Run) -> dict[str, float | None]:
    """Micro F1 (%) per convention from a finished run's metrics.json ({} if unreadable)."""
    try:
        rep = json.loads(run.metrics.read_text(encoding="utf-8"))
        scores = next(iter(rep["systems"].values()))["scores"]
        return {
            reporting.CONVENTION_TITLES[c]: reporting.pct(scores[c]["micro"]["f1"])
            for c in reporting.CONVENTION_TITLES
        }
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return {}


def runs_frame(all_runs: Sequence[runs.Run]) -> pd.DataFrame:
    rows = []
    for r in all_runs:
        scores = run_scores(r) if r.status == "done" else {}
        rows.append(
            {
                "run": r.id,
                "status": r.status + (" (stale)" if run_checks.stale_reason(r) else ""),
                "checkpoint": r.checkpoint_name,
                "split": r.split,
                "who": r.who,
                "started": ui.when(r.created_at),
                "duration": _duration(r.duration),
                **{f"{k} F1": v for k, v in scores.items()},
                "output": r.out_dir,
            }
        )
    return pd.DataFrame(rows)


def active_run(run: runs.Run, store: runs.RunStore, *, key: str) -> None:
    """Live progress of one queued/running run, with a cancel button."""
    prog = run.progress()
    done, total = prog.get("done", 0), prog.get("total", 0)
    frac = min(done / total, 1.0) if total else 0.0
    c1, c2 = st.columns([5, 1])
    c1.progress(
        frac,
        text=f"#{run.id} {run.checkpoint_name} on {run.split}: {run_checks.stage_text(run)} · "
        f"{_duration(run.duration) or 'queued'}",
    )
    if c2.button("Cancel", key=f"{key}_cancel_{run.id}"):
        runs.cancel(store, run.id)
        st.rerun()


def _retry_button(run: runs.Run, *, label: str, key: str) -> None:
    """Run it again as a new run (an identical active one is reused); the details then follow it."""
    if st.button(label, key=f"{key}_retry_{run.id}"):
        try:
            new = runs.retry(ui.run_store(), run.id)
        except runs.RunError as exc:
            ui.show_error(exc, what=f"Run #{run.id} cannot run again")
            return
        st.session_state[state.LAST_STARTED] = [new.id]
        st.session_state["runs_pick"] = new.id
        st.rerun()


def run_details(run: runs.Run, *, key: str) -> None:
    """Status, timing, files; errors with the log tail; scores and a link into Breakdown when done."""
    st.markdown(
        f"**Run #{run.id}** · `{run.status}` · {run.checkpoint_name} on {run.split} · by {run.who} · "
        f"{ui.when(run.created_at)} · {_duration(run.duration)}"
    )
    stale = run_checks.stale_reason(run)
    if run.status == "failed":
        st.error(f"Run #{run.id} failed: {run.error}", icon=":material/cancel:")
        st.code(run.log_tail(40) or "(no log)", language="text")
    elif run.status == "cancelled":
        st.warning(f"Run #{run.id} was cancelled.")
    elif stale:
        st.warning(f"Stale: {stale}. Its scores describe the old inputs.", icon=":material/update:")
    if run.status in ("failed", "cancelled") or stale:
        _retry_button(run, label="Re-evaluate" if stale else "Retry", key=key)
    if run.status == "done":
        scores = run_scores(run)
        cols = st.columns(len(scores) or 1)
        for col, (name, value) in zip(cols, scores.items(), strict=False):
            col.metric(f"{name} F1", "–" if value is None else f"{value:.1f}")
        if st.button("Open in Breakdown", key=f"{key}_open_{run.id}", type="primary"):
            st.session_state[state.BD_SOURCE] = "One run"
            st.session_state[state.BD_RUN] = run.id
            st.switch_page(state.PAGE_BREAKDOWN)
    files = [p for p in (run.predictions, run.metrics, run.log) if p.exists()]
    if files:
        st.caption("Files: " + " · ".join(f"`{p}`" for p in files))
    with st.expander("Command and log"):
        st.code(" ".join(json.loads(run.command or "[]")), language="bash")
        st.code(run.log_tail(80) or "(no log yet)", language="text")


def page() -> None:
    st.title("Evaluation runs")
    st.caption(
        "Start one from the sidebar (checkpoint A, B or both on the gold split). Runs go on in the "
        "background, survive app restarts, and are recorded in the runs folder's SQLite database."
    )
    refreshing = any(r.active for r in ui.run_store().runs(limit=100))

    @st.fragment(run_every=2 if refreshing else None)  # live progress while something runs
    def live() -> None:
        store = ui.run_store()
        all_runs = store.runs()
        if not all_runs:
            st.info("No evaluation run yet.", icon=":material/hourglass_empty:")
            return
        for run in (r for r in all_runs if r.active):
            active_run(run, store, key="runs")
        st.dataframe(runs_frame(all_runs), hide_index=True, key="runs_table")
        ids = [r.id for r in all_runs]
        newest = (st.session_state.get(state.LAST_STARTED) or [ids[0]])[-1]
        if st.session_state.get("runs_pick") not in ids or st.session_state.get("runs_follow") != newest:
            st.session_state["runs_pick"] = newest if newest in ids else ids[0]  # follow a new run
            st.session_state["runs_follow"] = newest
        picked = st.selectbox("Details of run", ids, key="runs_pick", format_func=lambda i: f"#{i}")
        run_details(store.get(int(picked)), key="runs")
        if refreshing and not any(r.active for r in all_runs):
            st.rerun()  # all finished: one full rerun stops the refresh and updates the sidebar

    live()


page()
