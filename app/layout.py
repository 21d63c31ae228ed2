"""Where words, entity bars and relation arcs go in a sentence drawing (pure geometry, no HTML).

Words are laid out in monospace (widths known without a browser) and wrapped onto lines of at most
`max_width` px, never inside an entity when it can be helped. A relation whose arguments sit on two lines
is drawn as two open arcs, as brat does: one leaves its head towards the line's end, the other reaches the
tail from the next line's start. Sentences written mostly right to left are laid out from the right, so
the words keep their reading order. Tokens are spaced as text is (no space before a comma, after "(", ...).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

FONT = 14  # px, monospace
CHAR_W = FONT * 0.6  # monospace advance width
GAP = CHAR_W + 4  # between words
TIGHT_GAP = 2.0  # between a word and punctuation that hugs it
LEVEL_H = 22  # vertical distance between arc levels
LABEL_FONT = 11
LABEL_CHAR_W = LABEL_FONT * 0.62
ROW_H = 26  # one row of entity bars + labels
PAD = 8

# Penn Treebank escapes shown as the characters they stand for.
PTB = {
    **{"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"},
    **{"``": "“", "''": "”"},
}
_NO_SPACE_BEFORE = frozenset(",.;:!?)]}%”…") | {"'s", "'S", "n't", "'re", "'ve", "'ll", "'d", "'m", "..."}
_NO_SPACE_AFTER = frozenset("([{“$#")


def display_width(text: str) -> int:
    """Terminal-style cell count: wide CJK/emoji count 2, combining marks 0."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return max(width, 1)


def shown(token: str) -> str:
    """A token as it is drawn (PTB bracket escapes undone)."""
    return PTB.get(token, token)


def hugs_previous(tokens: Sequence[str]) -> list[bool]:
    """For each token: drawn without a space before it (punctuation, clitics, after an opening bracket)."""
    out = [False] * len(tokens)
    for i in range(1, len(tokens)):
        tok, prev = shown(tokens[i]), shown(tokens[i - 1])
        out[i] = tok in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER
    return out


def detokenize(tokens: Sequence[str]) -> str:
    """The tokens as running text: "( a , b )" -> "(a, b)"."""
    hug = hugs_previous(tokens)
    return "".join(("" if hug[i] or i == 0 else " ") + shown(t) for i, t in enumerate(tokens))


def is_rtl(tokens: Sequence[str]) -> bool:
    """More right-to-left letters (Hebrew, Arabic, ...) than left-to-right ones."""
    rtl = ltr = 0
    for ch in "".join(tokens):
        kind = unicodedata.bidirectional(ch)
        rtl += kind in ("R", "AL")
        ltr += kind == "L"
    return rtl > ltr


@dataclass
class Lines:
    """Token positions: line index, left x and width of each token (x within its line)."""

    line: list[int]
    x: list[float]
    width: list[float]
    line_width: list[float]  # right end of each line's words (+ PAD)
    rtl: bool = False

    @property
    def n_lines(self) -> int:
        return max(self.line, default=0) + 1

    def span_x(self, start: int, end: int) -> tuple[float, float]:
        """x-range of tokens [start, end) on the line of `start` (an entity wider than a line is clipped
        to its first line)."""
        ids = [i for i in range(start, end) if self.line[i] == self.line[start]]
        return min(self.x[i] for i in ids), max(self.x[i] + self.width[i] for i in ids)


def layout_tokens(
    tokens: Sequence[str], *, max_width: float, keep_together: Sequence[tuple[int, int]] = ()
) -> Lines:
    """Wrap tokens onto lines of at most max_width px; a line never starts inside a `keep_together`
    span (entities) unless that span alone is wider than a line."""
    widths = [display_width(shown(t)) * CHAR_W for t in tokens]
    hug = hugs_previous(tokens)
    inside = set()  # tokens that may not start a line
    for start, end in keep_together:
        inside.update(range(start + 1, end))
    line, xs = [0] * len(tokens), [0.0] * len(tokens)
    line_start, n = 0, 0
    i = 0
    while i < len(tokens):
        x = PAD if i == line_start else xs[i - 1] + widths[i - 1] + (TIGHT_GAP if hug[i] else GAP)
        if i > line_start and x + widths[i] + PAD > max_width:
            cut = i
            while cut > line_start + 1 and (cut in inside or hug[cut]):
                cut -= 1  # move the break back to the entity's (or the punctuated word's) start
            if cut in inside or hug[cut]:
                cut = i  # the span alone is wider than a line: break inside it
            line_start, n, i = cut, n + 1, cut
            continue
        line[i], xs[i] = n, x
        i += 1
    line_width = [PAD * 2.0] * (n + 1)
    for i in range(len(tokens)):
        line_width[line[i]] = max(line_width[line[i]], xs[i] + widths[i] + PAD)
    rtl = is_rtl(tokens)
    if rtl:  # mirror each line inside the widest one: the first word on the right
        full = max(line_width)
        xs = [full - x - w for x, w in zip(xs, widths, strict=True)]
        line_width = [full] * len(line_width)
    return Lines(line, xs, widths, line_width, rtl)


@dataclass
class Arc:
    """One arc (or one open half of a relation split over two lines) on one line."""

    item: object  # render.Item; opaque here
    x_head: float
    x_tail: float
    level: int = 1
    text: str = ""
    line: int = 0
    head_open: bool = False  # the head is on another line: this end stops at the line's edge
    tail_open: bool = False
    spans: tuple[tuple[int, int] | None, tuple[int, int] | None] = field(default=(None, None))

    @property
    def left(self) -> float:
        return min(self.x_head, self.x_tail)

    @property
    def right(self) -> float:
        return max(self.x_head, self.x_tail)

    @property
    def label_x(self) -> float:
        """Centre of the label: the arc's middle, moved right where the label would leave the drawing."""
        return max((self.left + self.right) / 2, len(self.text) * LABEL_CHAR_W / 2 + 6)

    def extent(self) -> tuple[float, float]:
        """x-interval the arc and its label occupy (labels wider than short arcs overflow both ways)."""
        half_label = len(self.text) * LABEL_CHAR_W / 2 + 4
        return min(self.left, self.label_x - half_label), max(self.right, self.label_x + half_label)


def assign_anchors(arcs: list[Arc], spans: dict[tuple[int, int], tuple[float, float]]) -> None:
    """Spread the endpoints that share an entity across its width so that arcs leaving one entity neither
    start at the same point nor cross there: left-going ends sit left of right-going ones, and a farther
    partner (a higher, enclosing arc) gets the slot nearer the middle, so it encloses the nearer ones.
    `arc.spans` names the (head, tail) entity spans; None for an open end (already at a line's edge)."""
    ends: dict[tuple[int, int], list[tuple[tuple[bool, float], int, str]]] = {}
    for i, arc in enumerate(arcs):
        head_span, tail_span = arc.spans
        head_mid = sum(spans[head_span]) / 2 if head_span else arc.x_head
        tail_mid = sum(spans[tail_span]) / 2 if tail_span else arc.x_tail
        if head_span:
            ends.setdefault(head_span, []).append(((tail_mid >= head_mid, -tail_mid), i, "head"))
        if tail_span:
            ends.setdefault(tail_span, []).append(((head_mid >= tail_mid, -head_mid), i, "tail"))
    for span, items in ends.items():
        x0, x1 = spans[span]
        items.sort()
        for j, (_, i, which) in enumerate(items):
            x = x0 + (j + 1) * (x1 - x0) / (len(items) + 1)
            setattr(arcs[i], "x_head" if which == "head" else "x_tail", x)


def assign_levels(arcs: list[Arc]) -> int:
    """Narrow arcs first; each one sits one level above every placed arc (of its line) it overlaps."""
    placed: list[Arc] = []
    for arc in sorted(arcs, key=lambda a: (a.extent()[1] - a.extent()[0], a.left)):
        lo, hi = arc.extent()
        below = [p.level for p in placed if p.line == arc.line and p.extent()[0] < hi and lo < p.extent()[1]]
        arc.level = max(below, default=0) + 1
        placed.append(arc)
    return max((a.level for a in arcs), default=0)


def relation_arcs(
    items: Sequence[tuple[object, tuple[int, int], tuple[int, int], str]], lines: Lines
) -> list[Arc]:
    """Arcs for (item, head span, tail span, label text): one per relation on one line, two open halves
    for a relation over two lines (the head's half runs towards the tail's line, the tail's half comes
    from the head's side); anchors are spread over the entities."""
    arcs: list[Arc] = []
    spans: dict[tuple[int, int], tuple[float, float]] = {}
    for item, head, tail, text in items:
        spans.setdefault(head, lines.span_x(*head))
        spans.setdefault(tail, lines.span_x(*tail))
        lh, lt = lines.line[head[0]], lines.line[tail[0]]
        if lh == lt:
            arcs.append(Arc(item, 0.0, 0.0, text=text, line=lh, spans=(head, tail)))
            continue
        forward = lt > lh  # the tail comes later in reading order
        end_edge = lambda ln: PAD if lines.rtl else lines.line_width[ln] - PAD / 2  # noqa: E731
        start_edge = lambda ln: lines.line_width[ln] - PAD / 2 if lines.rtl else PAD / 2  # noqa: E731
        head_edge = end_edge(lh) if forward else start_edge(lh)
        tail_edge = start_edge(lt) if forward else end_edge(lt)
        arcs.append(Arc(item, 0.0, head_edge, text=f"{text} …", line=lh, tail_open=True, spans=(head, None)))
        arcs.append(Arc(item, tail_edge, 0.0, text=f"… {text}", line=lt, head_open=True, spans=(None, tail)))
    assign_anchors(arcs, spans)
    return arcs


def assign_rows(extents: Sequence[tuple[int, float, float]], order: Sequence[int]) -> list[int]:
    """Entity bars: for (line, x0, x1) per bar, the first row of its line where it overlaps no other bar,
    taking bars in `order` (found entities before missed ones)."""
    taken: dict[tuple[int, int], list[tuple[float, float]]] = {}
    rows = [0] * len(extents)
    for i in order:
        ln, lo, hi = extents[i]
        r = 0
        while any(lo < b and a < hi for a, b in taken.get((ln, r), [])):
            r += 1
        taken.setdefault((ln, r), []).append((lo, hi))
        rows[i] = r
    return rows
