"""Examples: the paper's Table 4 as a browser: sentences where the two systems disagree, with the
relation, its entity types and who is right, in a sortable table with previous / next."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import analysis, drilldown, examples, report_view, reporting, sources, state, ui


def filters(items: list[examples.Disagreement], an: analysis.Analysis) -> list[examples.Disagreement]:
    """Who is right, relation type and bucket filters over the disagreements; returns the kept ones."""
    c1, c2, c3, c4 = st.columns(4)
    names = {"A": an.names[0], "B": an.names[-1]}
    category = c1.selectbox(
        "Who is right",
        examples.CATEGORIES,
        key=state.EX_CATEGORY,
        format_func={  # names, not letters (a name may itself hold an "A" or a "B")
            examples.CATEGORIES[0]: examples.CATEGORIES[0],
            examples.CATEGORIES[1]: f"{names['B']} right, {names['A']} wrong",
            examples.CATEGORIES[2]: f"{names['A']} right, {names['B']} wrong",
        }.__getitem__,
    )
    labels = ["(all)", *sorted({d.label for d in items})]
    if st.session_state.get(state.EX_LABEL) not in labels:
        st.session_state[state.EX_LABEL] = "(all)"
    label = c2.selectbox("Relation type", labels, key=state.EX_LABEL)
    by = c3.selectbox(
        "Bucket by",
        examples.BUCKET_BYS,
        key=state.EX_BUCKET_BY,
        format_func=lambda b: reporting.BREAKDOWN_TITLES[b].split(" (")[0].removeprefix("F1 "),
    )
    buckets = ["(all)", *examples.bucket_labels(str(by))]
    if st.session_state.get(state.EX_BUCKET) not in buckets:
        st.session_state[state.EX_BUCKET] = "(all)"
    bucket = c4.selectbox(
        "Bucket",
        buckets,
        key=state.EX_BUCKET,
        format_func=lambda b: b if b == "(all)" else reporting.bucket_name(b, str(by)),
    )
    return examples.filter_disagreements(
        items,
        an.gold,
        category=str(category),
        label=None if label == "(all)" else str(label),
        bucket_by=str(by),
        bucket=None if bucket == "(all)" else str(bucket),
    )


def page() -> None:
    st.title("Examples where the systems disagree")
    an = sources.pick(key="ex")
    if an is None:
        return
    if not an.paired:
        st.info(
            "Examples compares two systems: add the second system's predictions (or pick another source)."
        )
        return
    convention, symmetric = report_view.convention_controls()
    try:
        items = examples.find_disagreements(
            an.gold,
            an.preds[0],
            an.preds[1],
            convention=convention,
            symmetric=symmetric,
            symmetric_labels=an.symmetric_labels,
        )
    except Exception as exc:  # mismatched files: say which, keep the page
        ui.show_error(exc, what="Could not compare these predictions")
        return
    kept = filters(items, an)
    groups = examples.by_sentence(kept)
    names = {"A": an.names[0], "B": an.names[1]}
    st.caption(f"{len(kept)} of {len(items)} disagreements, in {len(groups)} sentences of {an.gold_name}")
    table = pd.DataFrame(examples.rows(kept, an.gold, {"A": an.preds[0], "B": an.preds[1]}, names))
    st.download_button(
        "Download the disagreement list (CSV)",
        table.to_csv(index=False).encode("utf-8"),
        file_name="disagreements.csv",
        mime="text/csv",
        key="ex_csv",
        disabled=table.empty,
    )
    if not groups:
        st.info("No sentence matches these filters.")
        return
    drilldown.browser(an, list(groups), key="ex_drill", convention=convention, symmetric=symmetric)


page()
