"""Sentences of two systems (and gold) drawn side by side or stacked, shared by Compare and Examples.

Systems are keyed "A" and "B"; `titles` gives each the name the page shows (a checkpoint, a file, a
built-in system), so nothing on screen says just "A" or "B".
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from app import loading, render, state
from enpar.schema import Sentence

SYSTEMS = ("A", "B")
PAGE_SIZE = 10  # sentences drawn per page of results


def _other(name: str) -> str:
    return "B" if name == "A" else "A"


def _aligned(systems: dict[str, list[Sentence]], i: int, name: str) -> Sentence | None:
    """Sentence i of the other system, if it has the same tokens (else no only-A/only-B marks)."""
    mine, other = systems.get(name), systems.get(_other(name))
    if not mine or not other or i >= len(other) or i >= len(mine):
        return None
    return other[i] if other[i].tokens == mine[i].tokens else None


def build_views(
    systems: dict[str, list[Sentence]],
    *,
    titles: dict[str, str],
    gold: Sequence[Sentence] | None,
    strict: bool,
    symmetric_labels: frozenset[str],
) -> list[list[render.View]]:
    """Per sentence: the view of A, of B (marked against each other and gold), and of gold."""
    n = max((len(v) for v in systems.values() if v), default=0)
    out = []
    for i in range(n):
        row = []
        for name in SYSTEMS:
            preds = systems.get(name)
            if not preds or i >= len(preds):
                continue
            g = gold[i] if gold is not None and i < len(gold) else None
            g = g if g is not None and g.tokens == preds[i].tokens else None
            row.append(
                render.build_view(
                    preds[i],
                    gold=g,
                    other=_aligned(systems, i, name),
                    strict=strict,
                    symmetric_labels=symmetric_labels,
                    title=titles.get(name, name),
                )
            )
        if gold is not None and i < len(gold):
            row.append(render.build_view(gold[i], title="Gold"))
        out.append(row)
    return out


def system_counts(
    views: list[list[render.View]], systems: dict[str, list[Sentence]], *, titles: dict[str, str]
) -> dict[str, dict[str, int]]:
    """Marks counted per system (correct / spurious / missed, found by one only), never summed over A+B."""
    return {
        name: render.count_marks(v for row in views for v in row if v.title == titles.get(name, name))
        for name in systems
    }


def summary(
    systems: dict[str, list[Sentence]],
    counts: dict[str, dict[str, int]],
    *,
    titles: dict[str, str],
    with_gold: bool,
) -> str:
    """One caption: per system, what it predicted and (with gold) its relations TP / FP / FN."""
    parts = []
    for name, preds in systems.items():
        c = counts.get(name, {})
        n_e = sum(len(s.entities) for s in preds)
        n_r = sum(len(s.relations) for s in preds)
        line = f"**{titles.get(name, name)}**: {n_e} entities, {n_r} relations"
        if with_gold:
            line += (
                f" (relations correct {c.get('relation_correct', 0)}, spurious "
                f"{c.get('relation_spurious', 0)}, missed {c.get('relation_missed', 0)})"
            )
        elif len(systems) > 1:
            line += (
                f" ({c.get('entity_only', 0)} entities, {c.get('relation_only', 0)} relations it alone found)"
            )
        parts.append(line)
    return " · ".join(parts)


def show_comparison(
    systems: dict[str, list[Sentence] | None],
    *,
    titles: dict[str, str],
    gold: Sequence[Sentence] | None = None,
    key: str,
    captions: dict[int, list[str]] | None = None,
    symmetric_labels: frozenset[str] = frozenset(),
    strict: bool | None = None,
    download_name: str = "enpar-predictions.jsonl",
) -> None:
    """A and B (and gold) per sentence, as arcs or as a table, with downloads.

    `strict` set: relations match under that convention (the page has its own switch); None: a toggle here.
    `symmetric_labels`: relation types whose direction is ignored when matching (unordered).
    """
    usable = {k: v for k, v in systems.items() if v is not None}
    if not usable:
        return
    n = max(len(v) for v in usable.values())
    c1, c2, c3 = st.columns([2, 2, 3])
    mode = c1.segmented_control("View", ["Arcs", "Table"], key=f"{key}_view", default="Arcs", required=True)
    if strict is None:
        strict = c2.toggle(
            "Strict match (entity types too)",
            value=True,
            key=f"{key}_strict",
            help="Relation (exactly) vs boundaries: which relations count as the same.",
        )
    # Three long sentences side by side need scrolling; stacked, their words line up (default with gold).
    stacked = c3.toggle(
        "Stack the systems (words line up)",
        value=gold is not None,
        key=f"{key}_stack",
        help="Off: side by side.",
    )
    opts = {"titles": titles, "gold": gold, "strict": strict, "symmetric_labels": symmetric_labels}
    views = build_views(usable, **opts)  # once: counted, then drawn (a page of them) or tabled
    counts = system_counts(views, usable, titles=titles)
    st.caption(
        f"{n} sentence{'s' if n != 1 else ''} · "
        + summary(usable, counts, titles=titles, with_gold=gold is not None)
    )
    if mode == "Table":
        rows = [
            r for row in views for v in row for r in render.entities_and_relations_rows(v, system=v.title)
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{key}_table")
    else:
        show_html(render.legend_html(with_gold=gold is not None, with_other=len(usable) > 1))
        start = _pager(n, key=key)
        shown = range(start, min(start + PAGE_SIZE, n))
        for i, row in zip(shown, views[shown.start : shown.stop], strict=True):
            draw_row(row, number=i + 1, notes=(captions or {}).get(i, []), stacked=stacked)
    _downloads(usable, titles=titles, key=key, file_name=download_name)


def draw_row(row: list[render.View], *, number: int, notes: Sequence[str], stacked: bool) -> None:
    """One sentence: its text, note lines, then the systems' (and gold's) views."""
    text = render.sentence_text_html(row[0].sentence)
    note_html = "".join(f'<div class="enpar-note">{render.esc(c)}</div>' for c in notes)
    cols = 1 if stacked else len(row)
    grid = "".join(render.view_html(v, max_width=render.column_width(cols)) for v in row)
    show_html(
        f'<div class="enpar-row" style="border-top:1px solid #ddd;padding-top:4px">'
        f'<div style="font-weight:600">Sentence {number}</div>{text}{note_html}'
        f'<div style="display:grid;grid-template-columns:repeat({cols},minmax(0,1fr));gap:12px">'
        f"{grid}</div></div>"
    )


def unordered_labels(dataset_path: str | None) -> frozenset[str]:
    """Relation types matched without direction: the dataset's symmetric ones, unless the symmetric mode
    chosen on Breakdown/Examples is "directed" (the paper's default)."""
    if st.session_state.get(state.SYMMETRIC, "directed") == "directed":
        return frozenset()
    return loading.symmetric_labels(dataset_path)


def show_html(body: str) -> None:
    """Draw rendered HTML/SVG (every user string in it already escaped by app.render).

    Why not st.html: it sanitises with DOMPurify's HTML-only profile, which drops <svg> entirely.
    """
    st.markdown(body, unsafe_allow_html=True)


def _pager(n: int, *, key: str) -> int:
    """First index of the page of PAGE_SIZE sentences to draw."""
    pages = math.ceil(n / PAGE_SIZE)
    if pages <= 1:
        return 0
    page_key = f"{key}_page"
    if not 1 <= int(st.session_state.get(page_key) or 1) <= pages:  # fewer pages after a new filter
        st.session_state[page_key] = 1
    st.session_state.setdefault(page_key, 1)
    page = st.number_input(
        f"Page (of {pages}, {PAGE_SIZE} sentences each)", min_value=1, max_value=pages, step=1, key=page_key
    )
    return (int(page) - 1) * PAGE_SIZE


def _downloads(
    systems: dict[str, list[Sentence]], *, titles: dict[str, str], key: str, file_name: str
) -> None:
    lines = [
        json.dumps({"system": titles.get(name, name), **sent.to_json()}, ensure_ascii=False)
        for name, preds in systems.items()
        for sent in preds
    ]
    st.download_button(
        "Download predictions (JSON lines)",
        "\n".join(lines) + "\n",
        file_name=file_name,
        mime="application/jsonl",
        key=f"{key}_download",
    )
