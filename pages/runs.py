"""Runs: evaluation runs started from the sidebar: live progress, cancel, errors, and their scores."""

import streamlit as st

from app import ui, views

ui.ensure_frame()  # no-op unless Streamlit ran this page without the entrypoint

st.title("Evaluation runs")
st.caption(
    "Start one from the sidebar (checkpoint A, B or both on the gold split). Runs go on in the "
    "background, survive app restarts, and are recorded in the runs folder's SQLite database."
)


@st.fragment(run_every=2)
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


live()
