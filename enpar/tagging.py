"""BIEOU span tags and the lenient span chunker of the spec (section 4.3). Pure Python.

Tag vocabulary (spec 1.1): PAD (masked, index 0), B, I, E, O, U. Tags may carry a type ("B-ORG", the spaCy
IOB case); untyped tags behave as if typed "ENT".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

TAGS: tuple[str, ...] = ("PAD", "B", "I", "E", "O", "U")
TAG_INDEX: dict[str, int] = {t: i for i, t in enumerate(TAGS)}
PAD_ID = TAG_INDEX["PAD"]

Span = tuple[int, int]  # [start, end) in words


def non_overlapping(spans: Iterable[Span]) -> list[Span]:
    """The spans a BIEOU sequence can carry. Policy for nested / overlapping gold: keep the longest span
    first (so the outermost of a nest), ties broken by the earlier start; drop any span overlapping a kept
    one. Only the *tags* use this; the entity and relation heads and the evaluation still see every gold
    span."""
    kept: list[Span] = []
    for st, ed in sorted(set(spans), key=lambda s: (s[0] - s[1], s[0])):
        if all(ed <= a or st >= b for a, b in kept):
            kept.append((st, ed))
    return sorted(kept)


def bieou(n_words: int, spans: Iterable[Span]) -> list[str]:
    """Untyped BIEOU tags for `n_words` words (overlaps resolved by `non_overlapping`)."""
    tags = ["O"] * n_words
    for st, ed in non_overlapping(spans):
        if ed - st == 1:
            tags[st] = "U"
        else:
            tags[st] = "B"
            for i in range(st + 1, ed - 1):
                tags[i] = "I"
            tags[ed - 1] = "E"
    return tags


def bieou_ids(n_words: int, spans: Iterable[Span]) -> list[int]:
    return [TAG_INDEX[t] for t in bieou(n_words, spans)]


def _split(tag: str) -> tuple[str, str]:
    """'B-ORG' -> ('B', 'ORG'); 'B' -> ('B', 'ENT'); 'O' / 'PAD' -> ('O', '')."""
    if tag in ("O", "PAD", ""):
        return "O", ""
    prefix, _, typ = tag.partition("-")
    if prefix not in ("B", "I", "E", "U"):
        raise ValueError(f"unknown BIEOU tag {tag!r}")
    return prefix, typ or "ENT"


def chunk(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Spans [start, end) with their type, by the spec's lenient rules: a chunk starts at a non-O tag whose
    type differs from the previous tag's, at B or U, and at I or E after E, O or U; otherwise a non-O tag
    extends the open chunk. "I I" is one chunk, "B O" a one-word chunk, "U E" two chunks."""
    out: list[tuple[int, int, str]] = []
    open_start, open_type, open_end = -1, "", -1
    prev_prefix, prev_type = "O", ""
    for i, tag in enumerate(tags):
        prefix, typ = _split(tag)
        if prefix != "O":
            starts = (
                typ != prev_type
                or prefix in ("B", "U")
                or (prefix in ("I", "E") and prev_prefix in ("E", "O", "U"))
            )
            if starts:
                if open_start >= 0:
                    out.append((open_start, open_end, open_type))
                open_start, open_type = i, typ
            open_end = i + 1
        prev_prefix, prev_type = prefix, typ
    if open_start >= 0:
        out.append((open_start, open_end, open_type))
    return out


def spans_from_ids(tag_ids: Sequence[int]) -> list[Span]:
    """Untyped spans from predicted tag indices (PAD counts as O)."""
    return [(st, ed) for st, ed, _ in chunk([TAGS[t] for t in tag_ids])]
