"""The sentences behind a number: a sortable per-sentence table (F1 of each system, their difference,
TP / FP / FN) with previous / next, and the current sentence drawn with A/B differences and gold.

Shared by Breakdown (a clicked bucket or type) and Examples (the filtered disagreements).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app import analysis, examples, sentences, sources

SORTS = (
    "gold order",
    "largest difference",
    "worst first system",
    "worst second system",
    "most disagreements",
)


def _sorted(df: pd.DataFrame, how: str, an: analysis.Analysis) -> pd.DataFrame:
    if how == "largest difference" and an.paired:
        return df.reindex(
            df[analysis.delta_label(an)].abs().sort_values(ascending=False, na_position="last").index
        )
    if how in ("worst first system", "worst second system"):
        name = an.names[0] if how == "worst first system" or not an.paired else an.names[1]
        return df.sort_values(f"{name} F1", na_position="last", kind="stable")
    if how == "most disagreements" and an.paired:
        return df.sort_values("disagreements", ascending=False, kind="stable")
    return df


def disagreement_notes(an: analysis.Analysis, i: int, *, convention: str, symmetric: str) -> list[str]:
    """One line per relation the two systems disagree on in sentence i, with entity types."""
    if not an.paired:
        return []
    gold, a, b = an.gold[i], an.preds[0][i], an.preds[1][i]
    items = examples.find_disagreements(
        [gold], [a], [b], convention=convention, symmetric=symmetric, symmetric_labels=an.symmetric_labels
    )
    names = dict(zip("AB", an.names, strict=True))
    return [
        examples.describe(d, gold, names, holder=examples.holder_of(d, gold, {"A": a, "B": b})) for d in items
    ]


def draw_sentence(
    an: analysis.Analysis, i: int, *, convention: str, symmetric: str, notes: Sequence[str] = ()
) -> None:
    """Sentence i of the gold with every system's prediction, marked against gold and each other."""
    systems = {k: [p[i]] for k, p in zip("AB", an.preds, strict=False)}
    titles = dict(zip("AB", an.names, strict=False))
    unordered = an.symmetric_labels if symmetric != "directed" else frozenset()
    views = sentences.build_views(
        systems,
        titles=titles,
        gold=[an.gold[i]],
        strict=convention == "relation_strict",
        symmetric_labels=unordered,
    )
    lines = list(notes) or disagreement_notes(an, i, convention=convention, symmetric=symmetric)
    sentences.draw_row(views[0], number=i + 1, notes=lines, stacked=True)


def browser(
    an: analysis.Analysis,
    indices: Sequence[int],
    *,
    key: str,
    convention: str,
    symmetric: str,
    title: str = "",
) -> None:
    """Table of the given sentences (click a row, or step with previous / next) and the current one drawn."""
    if not indices:
        st.info("No sentence here.", icon=":material/search_off:")
        return
    rows = sources.sentence_rows(an, convention=convention, symmetric=symmetric)
    c1, c2 = st.columns([2, 5])
    how = c1.selectbox("Sort sentences by", SORTS if an.paired else SORTS[:3:2], key=f"{key}_sort")
    df = _sorted(pd.DataFrame([rows[i] for i in indices]), str(how), an)
    c2.caption(
        f"{title}{len(df)} sentences · per-sentence scores under the chosen convention; F1 is empty where "
        "there is nothing to find and nothing predicted · click a row, or use previous / next"
    )
    event = st.dataframe(
        df, hide_index=True, on_select="rerun", selection_mode="single-row", key=f"{key}_table", height=240
    )
    order = [int(n) - 1 for n in df["#"]]
    pos_key = f"{key}_pos"
    picked = event.selection.rows if event is not None else []  # type: ignore[union-attr]
    if picked and st.session_state.get(f"{pos_key}_clicked") != picked[0]:
        st.session_state[pos_key] = int(
            picked[0]
        )  # positions in df as shown to the table (before sorting in the UI)
        st.session_state[f"{pos_key}_clicked"] = picked[0]
    pos = min(max(int(st.session_state.get(pos_key) or 0), 0), len(order) - 1)
    p1, p2, p3 = st.columns([1, 1, 6])
    if p1.button("◀ Previous", key=f"{key}_prev", disabled=pos == 0):
        pos -= 1
    if p2.button("Next ▶", key=f"{key}_next", disabled=pos >= len(order) - 1):
        pos += 1
    st.session_state[pos_key] = pos
    p3.caption(f"Sentence {pos + 1} of {len(order)} in this list (#{order[pos] + 1} of {an.gold_name})")
    draw_sentence(an, order[pos], convention=convention, symmetric=symmetric)
