"""Predictions -> HTML/SVG and tables: entity spans coloured by type, relation arcs, and status marks.

Every string that comes from the user, a dataset or a checkpoint (tokens, labels, names) goes through
`esc()` before it reaches HTML; colours and geometry are computed here and never taken from input.
Layout (app.layout): words wrapped onto lines of a given width (monospace, so widths are known without a
browser), arcs above each line stacked on levels so crossing or nested arcs never share a height, entity
bars below. Where gold or the other system is known, what disagrees is drawn thick and the rest faded.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable
from dataclasses import dataclass

from app import layout
from app.layout import FONT, LABEL_CHAR_W, LABEL_FONT, LEVEL_H, PAD, ROW_H
from app.layout import Arc as _Arc
from enpar.schema import Entity, Relation, Sentence

# Statuses of one item in one system's view.
CORRECT, SPURIOUS, MISSED = "correct", "spurious", "missed"
STATUS_GLYPH = {CORRECT: "✓", SPURIOUS: "✗", MISSED: "○"}
ONLY_GLYPH = "★"

PALETTE = (  # light fills, readable under dark text; picked per label by a stable hash
    "#8ecae6",
    "#ffb703",
    "#95d5b2",
    "#f4a3a8",
    "#cdb4db",
    "#ffd6a5",
    "#a0c4ff",
    "#caffbf",
    "#fdffb6",
    "#bdb2ff",
    "#ffc6ff",
    "#9bf6ff",
    "#e9c46a",
    "#b5e48c",
    "#f7b267",
    "#c8b6ff",
)
STATUS_COLOUR = {CORRECT: "#2e7d32", SPURIOUS: "#c62828", MISSED: "#757575", None: "#37474f"}
ONLY_COLOUR = "#ef6c00"

DEFAULT_WIDTH = 760  # px per drawn line: readable stacked, and two side-by-side columns at 1500 px
PAGE_WIDTH = 1100  # px of the main column of a wide Streamlit page at 1500 px
LINE_GAP = 14  # between wrapped lines of one sentence


def column_width(n_columns: int, *, page_width: float = PAGE_WIDTH) -> float:
    """Line width for a sentence drawn in one of n side-by-side columns, so that it wraps to the column
    instead of being scaled down (small text) or clipped."""
    return max(260.0, (page_width - 12 * (n_columns - 1)) / max(n_columns, 1))


def esc(text: object) -> str:
    """The one way user text enters HTML (quotes too, since text also lands in attributes)."""
    return html.escape(str(text), quote=True)


def label_colour(label: str) -> str:
    digest = hashlib.md5(label.encode("utf-8")).digest()
    return PALETTE[digest[0] % len(PALETTE)]


# ---------------------------------------------------------------------------------------------------------
# What to mark: gold status and "only in this system"


def relation_key(
    rel: Relation, *, strict: bool = True, symmetric_labels: frozenset[str] = frozenset()
) -> tuple:
    """Match key: both spans + label (+ entity types when strict); argument order ignored for symmetric
    labels (the unordered convention)."""
    head = (rel.head.start, rel.head.end) + ((rel.head.label,) if strict else ())
    tail = (rel.tail.start, rel.tail.end) + ((rel.tail.label,) if strict else ())
    if rel.label in symmetric_labels:
        head, tail = sorted((head, tail))
    return (head, tail, rel.label)


@dataclass(frozen=True)
class Item:
    """One entity or relation drawn in one system's view."""

    entity: Entity | None
    relation: Relation | None
    status: str | None  # CORRECT / SPURIOUS / MISSED, or None without gold
    only: bool  # found by this system but not by the other one

    @property
    def disagrees(self) -> bool:
        """Wrong against gold, missed, or found by one system only: what the eye should go to."""
        return self.only or self.status in (SPURIOUS, MISSED)

    @property
    def colour(self) -> str:
        if self.status is None and self.only:
            return ONLY_COLOUR
        return STATUS_COLOUR[self.status]


@dataclass(frozen=True)
class View:
    """A sentence as one system sees it, with marks against gold and against the other system."""

    sentence: Sentence
    entities: tuple[Item, ...]
    relations: tuple[Item, ...]
    title: str = ""
    compared: bool = False  # marked against gold or another system (agreeing items are then faded)


def build_view(
    pred: Sentence,
    *,
    gold: Sentence | None = None,
    other: Sentence | None = None,
    strict: bool = True,
    symmetric_labels: frozenset[str] = frozenset(),
    title: str = "",
) -> View:
    """Mark pred's entities and relations: correct/spurious (and add missed ones) against gold,
    and `only` for those the other system lacks."""

    def rkey(rel: Relation) -> tuple:
        return relation_key(rel, strict=strict, symmetric_labels=symmetric_labels)

    other_ents = set(other.entities) if other is not None else None
    other_rels = {rkey(r) for r in other.relations} if other is not None else None
    gold_ents = set(gold.entities) if gold is not None else None
    gold_rels = {rkey(r) for r in gold.relations} if gold is not None else None

    ents = [
        Item(
            e,
            None,
            _status(e in gold_ents) if gold_ents is not None else None,
            other_ents is not None and e not in other_ents,
        )
        for e in pred.entities
    ]
    rels = [
        Item(
            None,
            r,
            _status(rkey(r) in gold_rels) if gold_rels is not None else None,
            other_rels is not None and rkey(r) not in other_rels,
        )
        for r in pred.relations
    ]
    if gold is not None:
        pred_ents, pred_rels = set(pred.entities), {rkey(r) for r in pred.relations}
        ents += [Item(e, None, MISSED, False) for e in gold.entities if e not in pred_ents]
        rels += [Item(None, r, MISSED, False) for r in gold.relations if rkey(r) not in pred_rels]
    return View(pred, tuple(ents), tuple(rels), title, gold is not None or other is not None)


def _status(found: bool) -> str:
    return CORRECT if found else SPURIOUS


# ---------------------------------------------------------------------------------------------------------
# SVG (positions from app.layout)


def _entity_text(item: Item) -> str:
    ent = item.entity
    assert ent is not None
    return f"{ent.label} {_glyphs(item)}".strip()


def _glyphs(item: Item) -> str:
    return STATUS_GLYPH.get(item.status or "", "") + (ONLY_GLYPH if item.only else "")


def _relation_arcs(view: View, lines: layout.Lines) -> list[_Arc]:
    specs = []
    for item in view.relations:
        rel = item.relation
        assert rel is not None
        specs.append((item, rel.head.span, rel.tail.span, f"{rel.label} {_glyphs(item)}".strip()))
    return layout.relation_arcs(specs, lines)


def _entity_rows(view: View, lines: layout.Lines) -> list[int]:
    """Row of each entity bar under its line: where neither the bar nor its label (often wider than a
    short word) overlaps another; found entities claim the top row before missed ones."""
    extents = []
    for item in view.entities:
        ent = item.entity
        assert ent is not None
        x0, x1 = lines.span_x(ent.start, ent.end)
        extents.append((lines.line[ent.start], x0, max(x1, x0 + len(_entity_text(item)) * LABEL_CHAR_W) + 4))
    order = sorted(range(len(extents)), key=lambda i: (view.entities[i].status == MISSED, extents[i]))
    return layout.assign_rows(extents, order)


def sentence_svg(view: View, *, max_width: float | None = None) -> str:
    """One sentence as an SVG: words (wrapped onto lines of at most max_width px), entity bars with type
    labels below each line, relation arcs above it. It scales down (never clips) in a narrower column."""
    tokens = view.sentence.tokens
    spans = [i.entity.span for i in view.entities if i.entity] + [
        s for i in view.relations if i.relation for s in (i.relation.head.span, i.relation.tail.span)
    ]
    lines = layout.layout_tokens(tokens, max_width=max_width or DEFAULT_WIDTH, keep_together=spans)
    arcs = _relation_arcs(view, lines)
    layout.assign_levels(arcs)
    rows = _entity_rows(view, lines)
    emphasis = view.compared and any(i.disagrees for i in (*view.entities, *view.relations))

    # Vertical: per line, its arc levels, then the words, then its rows of entity bars.
    text_top, bars_top, y = [], [], 0.0
    for ln in range(lines.n_lines):
        levels = max((a.level for a in arcs if a.line == ln), default=0)
        line_rows = (r for r, i in zip(rows, view.entities, strict=True) if _line(i, lines) == ln)
        n_rows = max(line_rows, default=-1)
        text_top.append(y + PAD + levels * LEVEL_H + (10 if levels else 0))
        bars_top.append(text_top[-1] + FONT + 6)
        y = bars_top[-1] + (n_rows + 1) * ROW_H + (PAD if ln == lines.n_lines - 1 else LINE_GAP)
    width = max(
        max(lines.line_width, default=2 * PAD),
        max((a.extent()[1] + PAD for a in arcs), default=0),
        max((lines.span_x(*i.entity.span)[0] + len(_entity_text(i)) * LABEL_CHAR_W + PAD
             for i in view.entities if i.entity), default=0),
    )  # fmt: skip
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="enpar-sent" width="{width:.0f}" height="{y:.0f}" '
        f'viewBox="0 0 {width:.0f} {y:.0f}" style="max-width:100%;height:auto;display:block" role="img" '
        f'aria-label="{esc(layout.detokenize(tokens))}">',
        "<defs>" + "".join(_arrow_marker(c) for c in _arc_colours()) + "</defs>",
    ]
    for item, row in zip(view.entities, rows, strict=True):
        ln = _line(item, lines)
        parts.append(_entity_svg(item, row, lines, text_top[ln], bars_top[ln], faded=emphasis))
    for i, tok in enumerate(tokens):
        parts.append(
            f'<text x="{lines.x[i]:.1f}" y="{text_top[lines.line[i]] + FONT:.1f}" font-family="monospace" '
            f'font-size="{FONT}" fill="#111" xml:space="preserve">{esc(layout.shown(tok))}</text>'
        )
    for arc in sorted(arcs, key=lambda a: -a.level):  # outer arcs first, so inner labels stay on top
        parts.append(_arc_svg(arc, text_top[arc.line] - 2, faded=emphasis))
    parts.append("</svg>")
    return "".join(parts)


def _line(item: Item, lines: layout.Lines) -> int:
    assert item.entity is not None
    return lines.line[item.entity.start]


def _arc_colours() -> list[str]:
    return sorted(set(STATUS_COLOUR.values()) | {ONLY_COLOUR})


def _marker_id(colour: str) -> str:
    return "arrow-" + colour.lstrip("#")


def _arrow_marker(colour: str) -> str:
    return (
        f'<marker id="{_marker_id(colour)}" viewBox="0 0 10 10" refX="9" refY="5" '
        f'markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )


def _entity_svg(
    item: Item, row: int, lines: layout.Lines, text_top: float, bars_top: float, *, faded: bool
) -> str:
    ent = item.entity
    assert ent is not None
    x0, x1 = lines.span_x(ent.start, ent.end)
    fill = label_colour(ent.label)
    y = bars_top + row * ROW_H
    dash = ' stroke-dasharray="4 3"' if item.status == MISSED else ""
    stroke = item.colour if (item.status or item.only) else fill
    width = 2.5 if item.disagrees else 1.5
    tip = f"{ent.label} [{ent.start}, {ent.end})" + (f" {item.status}" if item.status else "")
    tip += " (only this system)" if item.only else ""
    opacity = ' opacity="0.5"' if faded and not item.disagrees else ""
    weight = ' font-weight="bold"' if faded and item.disagrees else ""
    out = []
    if item.status != MISSED:  # highlight the words of found entities
        out.append(
            f'<rect x="{x0 - 2:.1f}" y="{text_top - 1:.1f}" width="{x1 - x0 + 4:.1f}" height="{FONT + 6}" '
            f'rx="3" fill="{fill}" fill-opacity="0.55"/>'
        )
    out.append(
        f'<g class="ent ent-{item.status or "plain"}{" ent-only" if item.only else ""}"{opacity}>'
        f"<title>{esc(tip)}</title>"
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="7" rx="2" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{width}"{dash}/>'
        f'<text x="{x0:.1f}" y="{y + 19:.1f}" font-family="sans-serif" font-size="{LABEL_FONT}"{weight} '
        f'fill="{STATUS_COLOUR[item.status] if item.status else "#333"}">{esc(_entity_text(item))}</text></g>'
    )
    return "".join(out)


def _arc_path(arc: _Arc, base_y: float, y: float) -> str:
    """Up from the head, across, down to the tail; an open end (the other argument is on another line)
    stays at the arc's height at the line's edge."""
    x1, x2 = arc.x_head, arc.x_tail
    r = min(6.0, abs(x2 - x1) / 2)
    sign = 1 if x2 >= x1 else -1
    start = f"M{x1:.1f},{y:.1f}" if arc.head_open else (
        f"M{x1:.1f},{base_y:.1f} L{x1:.1f},{y + r:.1f} Q{x1:.1f},{y:.1f} {x1 + sign * r:.1f},{y:.1f}"
    )  # fmt: skip
    if arc.tail_open:
        return f"{start} L{x2:.1f},{y:.1f}"
    end = f"Q{x2:.1f},{y:.1f} {x2:.1f},{y + r:.1f} L{x2:.1f},{base_y:.1f}"
    return f"{start} L{x2 - sign * r:.1f},{y:.1f} {end}"


def _arc_svg(arc: _Arc, base_y: float, *, faded: bool) -> str:
    item = arc.item
    assert isinstance(item, Item) and item.relation is not None
    rel, colour = item.relation, item.colour
    y = base_y - arc.level * LEVEL_H + 6
    dash = ' stroke-dasharray="5 3"' if item.status == MISSED else ""
    width = 2.6 if item.disagrees else 1.4
    mid = arc.label_x
    label_w = len(arc.text) * LABEL_CHAR_W + 6
    head, tail = rel.head, rel.tail
    tip = f"{rel.label}: [{head.start}, {head.end}) {head.label} → [{tail.start}, {tail.end}) {tail.label}"
    tip += f" ({item.status})" if item.status else ""
    tip += " (only this system)" if item.only else ""
    marker = "" if arc.tail_open else f' marker-end="url(#{_marker_id(colour)})"'
    opacity = ' opacity="0.45"' if faded and not item.disagrees else ""
    strong = faded and item.disagrees
    bold = ' font-weight="bold"' if strong else ""
    label_fill = "#fff3c4" if strong else "white"  # disagreements: a highlighted label
    return (
        f'<g class="arc arc-{item.status or "plain"}{" arc-only" if item.only else ""}'
        f'{" arc-disagree" if item.disagrees else ""}"{opacity}>'
        f"<title>{esc(tip)}</title>"
        f'<path d="{_arc_path(arc, base_y, y)}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}'
        f"{marker}/>"
        f'<rect x="{mid - label_w / 2:.1f}" y="{y - 8:.1f}" width="{label_w:.1f}" height="15" rx="3" '
        f'fill="{label_fill}" fill-opacity="0.95" stroke="{colour}" stroke-width="{1.2 if strong else 0.6}"/>'
        f'<text x="{mid:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" font-family="sans-serif" '
        f'font-size="{LABEL_FONT}"{bold} fill="{colour}">'
        f"{esc(arc.text)}</text></g>"
    )


# ---------------------------------------------------------------------------------------------------------
# HTML blocks


def view_html(view: View, *, max_width: float | None = None) -> str:
    """A titled block holding the sentence's SVG, wrapped to max_width px (see column_width); it scales
    down in a narrower container, so nothing is clipped and there is no scrollbar per sentence."""
    title = (
        f'<div class="enpar-title" style="font-weight:600;margin:2px 0">{esc(view.title)}</div>'
        if view.title
        else ""
    )
    return f'<div class="enpar-view">{title}{sentence_svg(view, max_width=max_width)}</div>'


def sentence_text_html(sentence: Sentence, *, prefix: str = "") -> str:
    """The sentence as running text (detokenised, escaped), its direction from its own letters."""
    text = layout.detokenize(sentence.tokens)
    return (
        f'<div class="enpar-text" dir="auto" style="color:#444;margin:6px 0 2px 0">'
        f"{esc(prefix)}<bdi>{esc(text)}</bdi></div>"
    )


def legend_html(*, with_gold: bool, with_other: bool) -> str:
    """What the marks mean."""
    parts = []
    if with_gold:
        parts += [
            f'<span style="color:{STATUS_COLOUR[CORRECT]}">{STATUS_GLYPH[CORRECT]} correct</span>',
            f'<span style="color:{STATUS_COLOUR[SPURIOUS]}">{STATUS_GLYPH[SPURIOUS]} spurious</span>',
            f'<span style="color:{STATUS_COLOUR[MISSED]}">{STATUS_GLYPH[MISSED]} missed (dashed)</span>',
        ]
    if with_other:
        parts.append(f'<span style="color:{ONLY_COLOUR}">{ONLY_GLYPH} only this system found it</span>')
    if with_gold or with_other:
        parts.append("disagreements thick with a highlighted label, agreements faded")
    parts.append("arcs point from head to tail")
    return '<div class="enpar-legend" style="font-size:0.85em;color:#555">' + " · ".join(parts) + "</div>"


def entities_and_relations_rows(view: View, *, system: str) -> list[dict[str, object]]:
    """The same marks as a table (one row per entity or relation)."""
    toks = view.sentence.tokens
    rows: list[dict[str, object]] = []
    for item in view.entities:
        ent = item.entity
        assert ent is not None
        rows.append(
            {
                "sentence": view.sentence.id,
                "system": system,
                "kind": "entity",
                "type": ent.label,
                "text": ent.text(toks),
                "head": "",
                "tail": "",
                "span": f"[{ent.start}, {ent.end})",
                "status": item.status or "",
                "only this system": item.only,
            }
        )
    for item in view.relations:
        rel = item.relation
        assert rel is not None
        rows.append(
            {
                "sentence": view.sentence.id,
                "system": system,
                "kind": "relation",
                "type": rel.label,
                "text": f"{rel.head.text(toks)} → {rel.tail.text(toks)}",
                "head": f"{rel.head.text(toks)} ({rel.head.label})",
                "tail": f"{rel.tail.text(toks)} ({rel.tail.label})",
                "span": f"[{rel.head.start}, {rel.head.end}) → [{rel.tail.start}, {rel.tail.end})",
                "status": item.status or "",
                "only this system": item.only,
            }
        )
    return rows


def count_marks(views: Iterable[View]) -> dict[str, int]:
    """How many items carry each mark (for captions and tests)."""
    counts: dict[str, int] = {}
    for view in views:
        for item in (*view.entities, *view.relations):
            kind = "entity" if item.entity is not None else "relation"
            for mark in filter(None, (item.status, "only" if item.only else None)):
                counts[f"{kind}_{mark}"] = counts.get(f"{kind}_{mark}", 0) + 1
    return counts
