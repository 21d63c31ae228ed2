"""Predictions -> HTML/SVG and tables: entity spans coloured by type, relation arcs, and status marks.

Every string that comes from the user, a dataset or a checkpoint (tokens, labels, names) goes through
`esc()` before it reaches HTML; colours and geometry are computed here and never taken from input.
Layout is one SVG line per sentence (monospace, so widths are known without a browser): arcs above the
words, stacked on levels so crossing or nested arcs never share a height, entity bars below.
"""

from __future__ import annotations

import hashlib
import html
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

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

FONT = 14  # px, monospace
CHAR_W = FONT * 0.6  # monospace advance width
GAP = CHAR_W + 4  # between words
LEVEL_H = 22  # vertical distance between arc levels
LABEL_FONT = 11
LABEL_CHAR_W = LABEL_FONT * 0.62
ROW_H = 26  # one row of entity bars + labels
PAD = 8


def esc(text: object) -> str:
    """The one way user text enters HTML (quotes too, since text also lands in attributes)."""
    return html.escape(str(text), quote=True)


def label_colour(label: str) -> str:
    digest = hashlib.md5(label.encode("utf-8")).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def display_width(text: str) -> int:
    """Terminal-style cell count: wide CJK/emoji count 2, combining marks 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return max(width, 1)


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
    return View(pred, tuple(ents), tuple(rels), title)


def _status(found: bool) -> str:
    return CORRECT if found else SPURIOUS


# ---------------------------------------------------------------------------------------------------------
# Geometry


@dataclass
class _Arc:
    item: Item
    x_head: float
    x_tail: float
    level: int = 1

    @property
    def left(self) -> float:
        return min(self.x_head, self.x_tail)

    @property
    def right(self) -> float:
        return max(self.x_head, self.x_tail)

    @property
    def text(self) -> str:
        rel = self.item.relation
        assert rel is not None
        glyphs = STATUS_GLYPH.get(self.item.status or "", "") + (ONLY_GLYPH if self.item.only else "")
        return f"{rel.label} {glyphs}".strip()

    def extent(self) -> tuple[float, float]:
        """x-interval the arc and its label occupy (labels wider than short arcs overflow both ways)."""
        mid = (self.left + self.right) / 2
        half_label = len(self.text) * LABEL_CHAR_W / 2 + 4
        return min(self.left, mid - half_label), max(self.right, mid + half_label)


def _token_x(tokens: Sequence[str]) -> tuple[list[float], list[float]]:
    xs, widths, x = [], [], PAD
    for tok in tokens:
        w = display_width(tok) * CHAR_W
        xs.append(x)
        widths.append(w)
        x += w + GAP
    return xs, widths


def _assign_anchors(arcs: list[_Arc], spans: dict[tuple[int, int], tuple[float, float]]) -> None:
    """Spread the endpoints that share an entity across its width so that arcs leaving one entity neither
    start at the same point nor cross there: left-going ends sit left of right-going ones, and a farther
    partner (a higher, enclosing arc) gets the slot nearer the middle, so it encloses the nearer ones."""
    ends: dict[tuple[int, int], list[tuple[tuple[bool, float], int, str]]] = {}
    for i, arc in enumerate(arcs):
        rel = arc.item.relation
        assert rel is not None
        head_span, tail_span = rel.head.span, rel.tail.span
        head_mid, tail_mid = sum(spans[head_span]) / 2, sum(spans[tail_span]) / 2
        ends.setdefault(head_span, []).append(((tail_mid >= head_mid, -tail_mid), i, "head"))
        ends.setdefault(tail_span, []).append(((head_mid >= tail_mid, -head_mid), i, "tail"))
    for span, items in ends.items():
        x0, x1 = spans[span]
        items.sort()
        for j, (_, i, which) in enumerate(items):
            x = x0 + (j + 1) * (x1 - x0) / (len(items) + 1)
            setattr(arcs[i], "x_head" if which == "head" else "x_tail", x)


def _assign_levels(arcs: list[_Arc]) -> int:
    """Narrow arcs first; each one sits one level above every placed arc it overlaps or crosses."""
    placed: list[_Arc] = []
    for arc in sorted(arcs, key=lambda a: (a.extent()[1] - a.extent()[0], a.left)):
        lo, hi = arc.extent()
        below = [p.level for p in placed if p.extent()[0] < hi and lo < p.extent()[1]]
        arc.level = max(below, default=0) + 1
        placed.append(arc)
    return max((a.level for a in arcs), default=0)


def _entity_text(item: Item) -> str:
    ent = item.entity
    assert ent is not None
    glyphs = STATUS_GLYPH.get(item.status or "", "") + (ONLY_GLYPH if item.only else "")
    return f"{ent.label} {glyphs}".strip()


def _assign_rows(items: Sequence[Item], span_x: Callable[[int, int], tuple[float, float]]) -> list[int]:
    """Entity bars: the first row where neither the bar nor its label (often wider than a short word)
    overlaps another; found entities claim the top row before missed ones."""

    def extent(i: int) -> tuple[float, float]:
        ent = items[i].entity
        assert ent is not None
        x0, x1 = span_x(ent.start, ent.end)
        return x0, max(x1, x0 + len(_entity_text(items[i])) * LABEL_CHAR_W) + 4

    order = sorted(range(len(items)), key=lambda i: (items[i].status == MISSED, extent(i)))
    taken_rows: list[list[tuple[float, float]]] = []
    rows = [0] * len(items)
    for i in order:
        lo, hi = extent(i)
        for r, taken in enumerate(taken_rows):
            if all(hi <= a or b <= lo for a, b in taken):
                taken.append((lo, hi))
                rows[i] = r
                break
        else:
            taken_rows.append([(lo, hi)])
            rows[i] = len(taken_rows) - 1
    return rows


# ---------------------------------------------------------------------------------------------------------
# SVG


def sentence_svg(view: View) -> str:
    """One sentence as an SVG: words, entity bars with type labels below, relation arcs above."""
    tokens = view.sentence.tokens
    xs, widths = _token_x(tokens)

    def span_x(start: int, end: int) -> tuple[float, float]:
        return xs[start], xs[end - 1] + widths[end - 1]

    spans = {}
    for item in view.entities:
        assert item.entity is not None
        spans[item.entity.span] = span_x(*item.entity.span)
    arcs = []
    for item in view.relations:
        rel = item.relation
        assert rel is not None
        for ent in (rel.head, rel.tail):
            spans.setdefault(ent.span, span_x(*ent.span))
        arcs.append(_Arc(item, 0.0, 0.0))
    _assign_anchors(arcs, spans)
    n_levels = _assign_levels(arcs)
    rows = _assign_rows(view.entities, span_x)
    n_rows = max(rows, default=-1) + 1

    text_top = PAD + n_levels * LEVEL_H + (10 if arcs else 0)
    baseline = text_top + FONT
    bars_top = baseline + 6
    height = bars_top + n_rows * ROW_H + PAD
    width = (xs[-1] + widths[-1] + PAD) if tokens else 2 * PAD
    label_ends = (
        span_x(*i.entity.span)[0] + len(_entity_text(i)) * LABEL_CHAR_W for i in view.entities if i.entity
    )
    width = max(width, max((a.extent()[1] for a in arcs), default=0) + PAD, max(label_ends, default=0) + PAD)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="enpar-sent" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="{esc(" ".join(tokens))}">',
        "<defs>" + "".join(_arrow_marker(c) for c in _arc_colours()) + "</defs>",
    ]
    for item, row in zip(view.entities, rows, strict=True):
        parts.append(_entity_svg(item, row, span_x, text_top, bars_top))
    for x, tok in zip(xs, tokens, strict=True):
        parts.append(
            f'<text x="{x:.1f}" y="{baseline:.1f}" font-family="monospace" font-size="{FONT}" '
            f'fill="#111" xml:space="preserve">{esc(tok)}</text>'
        )
    for arc in sorted(arcs, key=lambda a: -a.level):  # outer arcs first, so inner labels stay on top
        parts.append(_arc_svg(arc, text_top - 2))
    parts.append("</svg>")
    return "".join(parts)


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
    item: Item, row: int, span_x: Callable[[int, int], tuple[float, float]], text_top: float, bars_top: float
) -> str:
    ent = item.entity
    assert ent is not None
    x0, x1 = span_x(ent.start, ent.end)
    fill = label_colour(ent.label)
    y = bars_top + row * ROW_H
    dash = ' stroke-dasharray="4 3"' if item.status == MISSED else ""
    stroke = item.colour if (item.status or item.only) else fill
    width = 2.5 if item.only else 1.5
    tip = f"{ent.label} [{ent.start}, {ent.end})" + (f" {item.status}" if item.status else "")
    tip += " (only this system)" if item.only else ""
    out = []
    if item.status != MISSED:  # highlight the words of found entities
        out.append(
            f'<rect x="{x0 - 2:.1f}" y="{text_top - 1:.1f}" width="{x1 - x0 + 4:.1f}" height="{FONT + 6}" '
            f'rx="3" fill="{fill}" fill-opacity="0.55"/>'
        )
    out.append(
        f'<g class="ent ent-{item.status or "plain"}{" ent-only" if item.only else ""}">'
        f"<title>{esc(tip)}</title>"
        f'<rect x="{x0:.1f}" y="{y:.1f}" width="{x1 - x0:.1f}" height="7" rx="2" fill="{fill}" '
        f'stroke="{stroke}" stroke-width="{width}"{dash}/>'
        f'<text x="{x0:.1f}" y="{y + 19:.1f}" font-family="sans-serif" font-size="{LABEL_FONT}" '
        f'fill="{STATUS_COLOUR[item.status] if item.status else "#333"}">{esc(_entity_text(item))}</text></g>'
    )
    return "".join(out)


def _arc_svg(arc: _Arc, base_y: float) -> str:
    item, rel = arc.item, arc.item.relation
    assert rel is not None
    colour = item.colour
    y = base_y - arc.level * LEVEL_H + 6
    x1, x2 = arc.x_head, arc.x_tail
    r = min(6.0, abs(x2 - x1) / 2)
    sign = 1 if x2 >= x1 else -1
    path = (
        f"M{x1:.1f},{base_y:.1f} L{x1:.1f},{y + r:.1f} Q{x1:.1f},{y:.1f} {x1 + sign * r:.1f},{y:.1f} "
        f"L{x2 - sign * r:.1f},{y:.1f} Q{x2:.1f},{y:.1f} {x2:.1f},{y + r:.1f} L{x2:.1f},{base_y:.1f}"
    )
    dash = ' stroke-dasharray="5 3"' if item.status == MISSED else ""
    width = 2.4 if item.only else 1.4
    mid = (x1 + x2) / 2
    label_w = len(arc.text) * LABEL_CHAR_W + 6
    head, tail = rel.head, rel.tail
    tip = f"{rel.label}: [{head.start}, {head.end}) {head.label} → [{tail.start}, {tail.end}) {tail.label}"
    tip += f" ({item.status})" if item.status else ""
    tip += " (only this system)" if item.only else ""
    return (
        f'<g class="arc arc-{item.status or "plain"}{" arc-only" if item.only else ""}">'
        f"<title>{esc(tip)}</title>"
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{dash} '
        f'marker-end="url(#{_marker_id(colour)})"/>'
        f'<rect x="{mid - label_w / 2:.1f}" y="{y - 8:.1f}" width="{label_w:.1f}" height="15" rx="3" '
        f'fill="white" fill-opacity="0.92" stroke="{colour}" stroke-width="0.6"/>'
        f'<text x="{mid:.1f}" y="{y + 3.5:.1f}" text-anchor="middle" font-family="sans-serif" '
        f'font-size="{LABEL_FONT}" fill="{colour}">{esc(arc.text)}</text></g>'
    )


# ---------------------------------------------------------------------------------------------------------
# HTML blocks


def view_html(view: View) -> str:
    """A titled, horizontally scrollable block holding the sentence's SVG."""
    title = (
        f'<div class="enpar-title" style="font-weight:600;margin:2px 0">{esc(view.title)}</div>'
        if view.title
        else ""
    )
    return (
        f'<div class="enpar-view">{title}'
        f'<div style="overflow-x:auto;padding-bottom:4px">{sentence_svg(view)}</div></div>'
    )


def sentence_text_html(sentence: Sentence, *, prefix: str = "") -> str:
    """The sentence as plain (escaped) text, e.g. as a heading."""
    text = " ".join(sentence.tokens)
    return f'<div class="enpar-text" style="color:#444;margin:6px 0 2px 0">{esc(prefix)}{esc(text)}</div>'


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
        parts.append(
            f'<span style="color:{ONLY_COLOUR}">{ONLY_GLYPH} only this system found it (thick)</span>'
        )
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
