"""Sentence drawings (app.render, app.layout): wrapping with arcs across lines, right-to-left order,
detokenised spacing, emphasis of disagreements, escaping of every user string. Pure: no model, no app."""

from __future__ import annotations

import re

from app import layout, render
from enpar.schema import Entity, Relation, Sentence

XSS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>')


def sentence(
    tokens: str | list[str], entities: list[tuple[int, int, str]], relations: list[tuple[int, int, str]]
) -> Sentence:
    ents = tuple(Entity(*e) for e in entities)
    rels = tuple(Relation(ents[h], ents[t], label) for h, t, label in relations)
    return Sentence("s", tuple(tokens.split() if isinstance(tokens, str) else tokens), ents, rels)


def widths(svg: str) -> tuple[float, float]:
    m = re.search(r'<svg[^>]* width="([\d.]+)" height="([\d.]+)"', svg)
    assert m
    return float(m.group(1)), float(m.group(2))


def test_every_user_string_is_escaped_in_svg_text_attributes_and_titles() -> None:
    evil = sentence(list(XSS), [(0, 1, XSS[1]), (2, 3, XSS[2])], [(0, 1, XSS[0])])
    view = render.build_view(evil, gold=evil, other=evil, title=XSS[2])
    out = (
        render.view_html(view, max_width=300)
        + render.sentence_text_html(evil, prefix=XSS[0])
        + render.legend_html(with_gold=True, with_other=True)
    )
    for bad in ("<script", "<img", "<svg onload", '"><svg onload'):
        assert bad not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "&quot;&gt;&lt;svg onload" in out


def test_a_long_sentence_wraps_to_the_width_and_keeps_every_word_and_arc() -> None:
    n = 120
    tokens = [f"word{i}" for i in range(n)]
    s = sentence(tokens, [(0, 1, "A"), (5, 7, "B"), (110, 112, "C")], [(0, 1, "NEAR"), (0, 2, "FAR")])
    svg = render.sentence_svg(render.build_view(s), max_width=500)
    width, height = widths(svg)
    assert width <= 500 + 10 and height > 5 * 40  # many lines, none wider than asked
    assert all(f">word{i}<" in svg for i in range(n))  # nothing clipped or dropped
    # NEAR is on one line (one arc); FAR spans lines: two open halves, the head's without an arrow
    assert svg.count(">NEAR<") == 1 and svg.count(">FAR …<") == 1 and svg.count(">… FAR<") == 1
    lines = layout.layout_tokens(tokens, max_width=500, keep_together=[(5, 7), (110, 112)])
    assert lines.n_lines > 5 and max(lines.line_width) <= 500
    assert lines.line[5] == lines.line[6] and lines.line[110] == lines.line[111]  # entities not split
    assert lines.line == sorted(lines.line)


def test_wrapping_never_starts_a_line_with_punctuation_or_inside_an_entity() -> None:
    tokens = ["alpha", "beta", "gamma", "delta", ",", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "."]
    for max_width in range(170, 400, 7):  # wide enough for the entity alone
        lines = layout.layout_tokens(tokens, max_width=max_width, keep_together=[(5, 8)])
        starts = [i for i in range(1, len(tokens)) if lines.line[i] != lines.line[i - 1]]
        assert not {4, 6, 7, 11} & set(starts), (max_width, starts)


def test_detokenised_spacing_and_ptb_brackets() -> None:
    tokens = ["We", "use", "-LRB-", "BERT", "-RRB-", ",", "it", "does", "n't", "fail", "``", "ok", "''", "."]
    assert layout.detokenize(tokens) == "We use (BERT), it doesn't fail “ok”."
    lines = layout.layout_tokens(tokens, max_width=10_000)
    gap = lines.x[5] - (lines.x[4] + lines.width[4])
    assert round(gap, 6) == layout.TIGHT_GAP
    assert round(lines.x[1] - (lines.x[0] + lines.width[0]), 6) == layout.GAP
    assert render.sentence_text_html(sentence(tokens, [], [])).count("(BERT),") == 1


def test_right_to_left_sentences_keep_their_reading_order() -> None:
    s = sentence("قال الرئيس إن الشركة في القاهرة", [(1, 2, "PER"), (5, 6, "LOC")], [(0, 1, "PHYS")])
    lines = layout.layout_tokens(s.tokens, max_width=10_000)
    assert lines.rtl and lines.x == sorted(lines.x, reverse=True)  # the first word on the right
    svg = render.sentence_svg(render.build_view(s))
    xs = [float(m) for m in re.findall(r'<text x="([\d.]+)"[^>]*font-family="monospace"', svg)]
    assert xs == sorted(xs, reverse=True)
    assert 'dir="auto"' in render.sentence_text_html(s)
    assert not layout.layout_tokens(["Hello", "عربي"], max_width=10_000).rtl


def test_disagreements_are_emphasised_and_agreements_faded() -> None:
    gold = sentence("a b c d", [(0, 1, "X"), (2, 3, "Y")], [(0, 1, "R")])
    a = sentence("a b c d", [(0, 1, "X"), (2, 3, "Y"), (3, 4, "Z")], [(0, 1, "R"), (1, 2, "S")])
    b = sentence("a b c d", [(0, 1, "X"), (2, 3, "Y")], [(0, 1, "R")])
    view = render.build_view(a, gold=gold, other=b)
    assert [i.disagrees for i in view.relations] == [False, True]
    svg = render.sentence_svg(view)
    assert svg.count("arc-disagree") == 1 and 'opacity="0.45"' in svg and 'font-weight="bold"' in svg
    plain = render.sentence_svg(render.build_view(a))  # nothing to compare with: nothing faded
    assert "opacity=" not in plain.replace("fill-opacity", "")


def test_arcs_from_one_entity_and_crossing_arcs_never_share_a_height_or_an_anchor() -> None:
    # 0 -> 2, 0 -> 4 and 1 -> 3 (crosses 0 -> 2): three arcs, one entity with two outgoing arcs.
    s = sentence(
        "a b c d e",
        [(0, 1, "X"), (1, 2, "X"), (2, 3, "Y"), (3, 4, "Y"), (4, 5, "Z")],
        [(0, 2, "R1"), (0, 4, "R2"), (1, 3, "R3")],
    )
    lines = layout.layout_tokens(s.tokens, max_width=10_000)
    specs = [(r.label, r.head.span, r.tail.span, r.label) for r in s.relations]
    arcs = layout.relation_arcs(specs, lines)
    assert layout.assign_levels(arcs) == 3 and len({a.level for a in arcs}) == 3
    by_label = {a.item: a for a in arcs}
    assert by_label["R1"].x_head != by_label["R2"].x_head
    # both leave entity 0 rightwards: the longer one leaves left of the shorter one and above it (encloses it)
    assert by_label["R2"].x_head < by_label["R1"].x_head and by_label["R2"].level > by_label["R1"].level
    svg = render.sentence_svg(render.build_view(s))
    assert svg.count('class="arc') == 3 and "R3" in svg


def test_column_width_fits_side_by_side_columns() -> None:
    assert render.column_width(1) == render.PAGE_WIDTH
    assert 500 < render.column_width(2) < 560 and render.column_width(3) >= 260
    s = sentence(" ".join(f"w{i}" for i in range(60)), [], [])
    w, _ = widths(render.sentence_svg(render.build_view(s), max_width=render.column_width(3)))
    assert w <= render.column_width(3) + 1
    assert 'style="max-width:100%;height:auto' in render.view_html(render.build_view(s))  # scales, no scroll
