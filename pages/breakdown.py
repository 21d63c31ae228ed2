"""Breakdown: one evaluation run, or A vs B on the same split, scored every way the paper slices it."""

import streamlit as st

from app import state, ui, views

ui.ensure_frame()  # no-op unless Streamlit ran this page without the entrypoint

st.title("Breakdown")
source = st.segmented_control("Scores of", ["A vs B", "One run"], key=state.BD_SOURCE, required=True)
picked = views.one_run_predictions() if source == "One run" else views.ab_predictions(key="bd")
if picked is None:
    st.stop()
split, gold_path, preds, labels = picked

convention, symmetric = views.convention_controls()
n_bootstrap = st.select_slider(
    "Bootstrap resamples (CIs and paired test)", [0, 200, 1000], value=1000, key="bd_bootstrap"
)
st.markdown(f"Gold: **{split}** · " + " · ".join(f"**{n}** = {label}" for n, label in labels.items()))
st.caption(f"Files: gold `{gold_path}` · " + " · ".join(f"{n} `{p}`" for n, p in preds.items()))
report = views.compute_report(
    gold_path, preds, convention=convention, symmetric=symmetric, n_bootstrap=n_bootstrap
)
if report is not None:
    views.report_sections(report, convention=convention, key="bd")
