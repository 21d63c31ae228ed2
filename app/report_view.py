"""Breakdown's sections: controls, overall scores and the paired test, per-type tables, breakdown charts
and the error taxonomy. Clicking a bucket or a per-type row returns a drill-down target.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from app import analysis, report_export, reporting, sources, state


@dataclass(frozen=True)
class Target:
    """What the user clicked: the title of the list and the sentences behind it."""

    title: str
    indices: tuple[int, ...]


def convention_controls() -> tuple[str, str]:
    """Relation convention (boundaries / strict) and symmetric handling; both recompute everything."""
    c1, c2 = st.columns(2)
    conv = c1.segmented_control(
        "Relation convention",
        ["relation_strict", "relation"],
        key=state.CONVENTION,
        required=True,
        format_func={"relation_strict": "Strict (exactly)", "relation": "Boundaries"}.__getitem__,
        help="Strict: both argument spans and entity types, direction and relation type (the paper's "
        "'Relation (exactly)'). Boundaries: entity types ignored (the paper's 'Relation').",
    )
    sym = c2.segmented_control(
        "Symmetric relations",
        ["directed", "unordered", "doubled"],
        key=state.SYMMETRIC,
        required=True,
        help="directed: a reversed symmetric pair is an error (the paper); unordered: direction ignored for "
        "symmetric types; doubled: each symmetric relation counts in both directions (PL-Marker).",
    )
    return str(conv or "relation_strict"), str(sym or "directed")


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def table_with_download(df: pd.DataFrame, *, key: str, file_name: str, select: bool = False) -> list[int]:
    """A table (optionally row-selectable) with its CSV; returns the selected row positions."""
    event = st.dataframe(
        df,
        hide_index=True,
        key=f"{key}_df",
        on_select="rerun" if select else "ignore",
        selection_mode="single-row",
    )
    st.download_button("Download CSV", _csv(df), file_name=file_name, mime="text/csv", key=f"{key}_csv")
    return list(event.selection.rows) if select and event is not None else []  # type: ignore[union-attr]


def methods_note(rep: dict[str, Any]) -> str:
    s = rep["settings"]
    if not s.get("n_bootstrap"):
        return "No resampling (bootstrap 0): no intervals or p-values."
    return (
        f"Intervals: 95% {s['ci_method']} ({s['n_bootstrap']} resamples, seed {s['seed']}). "
        f"Paired test of the two systems: {s['test']}. Per-bucket differences: {analysis.BUCKET_TEST}."
    )


def overall(rep: dict[str, Any], *, key: str) -> None:
    st.subheader("Overall")
    table_with_download(reporting.overall_table(rep), key=f"{key}_overall", file_name="overall.csv")
    paired = reporting.paired_table(rep)
    if paired is not None:
        st.markdown("**Paired test** (same sentences; two-sided)")
        table_with_download(paired, key=f"{key}_paired", file_name="paired-test.csv")
    st.caption(methods_note(rep))


def per_type(rep: dict[str, Any], an: analysis.Analysis, *, convention: str, key: str) -> Target | None:
    """Entity and relation types, one full-width table each (every system's P/R/F1 visible); a clicked
    row opens the sentences with that type."""
    st.subheader("Per type (the paper's Tables 6 and 7)")
    st.caption("Click a row to list the sentences where gold or a system has that type.")
    target = None
    for conv, what, file in (("entity", "Entities (span + type)", "entity"), (convention, None, "relation")):
        st.markdown(f"**{what or 'Relations (' + reporting.CONVENTION_TITLES[convention] + ')'}**")
        df = reporting.per_type_table(rep, conv)
        picked = table_with_download(
            df, key=f"{key}_{file}_types", file_name=f"{file}-types.csv", select=True
        )
        if picked and not df.empty:
            label = str(df.iloc[picked[0]]["type"])
            indices = analysis.type_members(an, label, entity=conv == "entity")
            target = Target(f"{file.title()} type {label}: ", tuple(indices))
    return target


def breakdown_charts(
    rep: dict[str, Any], an: analysis.Analysis, *, convention: str, symmetric: str, n_bootstrap: int, key: str
) -> Target | None:
    """The four breakdown charts (click a bar for its sentences), each with its per-bucket test table."""
    st.subheader("Breakdowns (Figures 7-9)")
    full = st.toggle("Fixed 0-100 axis", key=state.FULL_SCALE, help="Off: each axis fits its data.")
    st.caption("Click a bar to list the sentences behind that bucket. " + methods_note(rep))
    target = None
    cols = itertools.cycle(st.columns(2))
    for by, title in reporting.BREAKDOWN_TITLES.items():
        section = rep["breakdowns"].get(by)
        if not section:
            continue
        with next(cols):
            df = reporting.breakdown_frame(rep, by)
            note = f"whiskers: 95% {rep['settings']['ci_method']}" if n_bootstrap else "no intervals"
            fig = reporting.breakdown_figure(
                df, title=title, convention=section["convention"], full_scale=bool(full), ci_note=note
            )
            event = st.plotly_chart(
                fig,
                key=f"{key}_fig_{by}",
                config=reporting.CHART_CONFIG,
                on_select="rerun",
                selection_mode="points",
            )
            points = event.selection.points if event is not None else []  # type: ignore[union-attr]
            if points:
                shown = str(points[0].get("x", "")).split("<br>")[0]
                raw = dict(zip(df["bucket"], df["raw bucket"], strict=True)).get(shown)
                members = sources.bucket_members(an, by=by, convention=convention, symmetric=symmetric)
                if raw is not None:
                    target = Target(f"{title.split(' (')[0]}, bucket {shown}: ", tuple(members.get(raw, [])))
            if an.paired:
                tests = sources.bucket_tests(
                    an, by=by, convention=section["convention"], symmetric=symmetric, n_bootstrap=n_bootstrap
                )
                st.dataframe(
                    reporting.bucket_test_table(df, tests, list(an.names)),
                    hide_index=True,
                    key=f"{key}_test_{by}",
                )
            st.download_button(
                f"Download data ({by})",
                _csv(df.drop(columns=["order", "raw bucket"])),
                file_name=f"f1-by-{by}.csv",
                mime="text/csv",
                key=f"{key}_fig_{by}_csv",
            )
    return target


def taxonomy(rep: dict[str, Any], *, key: str) -> None:
    st.subheader("Relation error taxonomy")
    tax = reporting.taxonomy_frame(rep)
    st.plotly_chart(reporting.taxonomy_figure(tax), key=f"{key}_tax_fig", config=reporting.CHART_CONFIG)
    if not tax.empty:
        wide = tax.pivot_table(index=["side", "category"], columns="system", values="count", sort=False)
        st.dataframe(wide.reset_index(), hide_index=True, key=f"{key}_tax_df")
        st.download_button(
            "Download CSV", _csv(tax), file_name="error-taxonomy.csv", mime="text/csv", key=f"{key}_tax_csv"
        )


def exports(rep: dict[str, Any], an: analysis.Analysis, *, convention: str, key: str) -> None:
    """The whole report as JSON, and as a Markdown or HTML A/B report (tables and charts) a person can
    paste into a draft; each file is built only when its button is clicked."""
    st.subheader("Export")
    files = (
        ("Report (JSON)", lambda: json.dumps(rep, indent=1), "report.json", "application/json"),
        (
            "A/B report (Markdown)",
            lambda: report_export.markdown(rep, an, convention=convention),
            "ab-report.md",
            "text/markdown",
        ),
        (
            "A/B report (HTML with charts)",
            lambda: report_export.html(rep, an, convention=convention),
            "ab-report.html",
            "text/html",
        ),
    )
    for col, (label, build, name, mime) in zip(st.columns(3), files, strict=True):
        col.download_button(label, build, file_name=name, mime=mime, key=f"{key}_{name}")
