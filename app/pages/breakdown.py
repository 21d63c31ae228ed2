"""Breakdown: one system or two against gold, scored every way the paper slices it; click a bucket or a
per-type row for the sentences behind it."""

from __future__ import annotations

import streamlit as st

from app import drilldown, report_view, sources


def page() -> None:
    st.title("Breakdown")
    an = sources.pick(key="bd")
    if an is None:
        return
    convention, symmetric = report_view.convention_controls()
    n_bootstrap = st.select_slider(
        "Bootstrap resamples (CIs and paired tests)", [0, 200, 1000], value=1000, key="bd_bootstrap"
    )
    try:
        with st.spinner("Scoring (bootstrap CIs and the paired test)…"):
            rep = sources.report(an, convention=convention, symmetric=symmetric, n_bootstrap=int(n_bootstrap))
    except Exception as exc:  # mismatched or broken files: say which, keep the page
        from app import ui

        ui.show_error(exc, what="Could not score these predictions against the gold")
        return
    report_view.overall(rep, key="bd")
    by_type = report_view.per_type(rep, an, convention=convention, key="bd")
    by_bucket = report_view.breakdown_charts(
        rep, an, convention=convention, symmetric=symmetric, n_bootstrap=int(n_bootstrap), key="bd"
    )
    target = by_bucket or by_type
    if target is not None:
        st.subheader("Sentences behind the selection")
        drilldown.browser(
            an, target.indices, key="bd_drill", convention=convention, symmetric=symmetric, title=target.title
        )
    report_view.taxonomy(rep, key="bd")
    report_view.exports(rep, an, convention=convention, key="bd")


page()
