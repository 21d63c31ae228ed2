"""Runs: evaluation runs started from the sidebar: live progress, cancel, errors, and their scores."""

import streamlit as st

from app import ui, views

ui.ensure_frame()  # no-op unless Streamlit ran this page without the entrypoint

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
        views.active_run(run, store, key="runs")
    st.dataframe(views.runs_frame(all_runs), hide_index=True, key="runs_table")
    ids = [r.id for r in all_runs]
    picked = st.selectbox("Details of run", ids, key="runs_pick", format_func=lambda i: f"#{i}")
    views.run_details(store.get(int(picked)), key="runs")
    if refreshing and not any(r.active for r in all_runs):
        st.rerun()  # all finished: one full rerun stops the refresh and updates the sidebar


live()
