"""BIEOU span tags, the lenient span chunker of the spec (section 4.3) and a constrained decoder. Pure Python.

Tag vocabulary (spec 1.1): PAD (masked, index 0), B, I, E, O, U. Tags may carry a type ("B-ORG", the spaCy
IOB case); untyped tags behave as if typed "ENT".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

TAGS: tuple[str, ...] = ("PAD", "B", "I", "E", "O", "U")
TAG_INDEX: dict[str, int] = {t: i for i, t in enumerate(TAGS)}
PAD_ID, O_ID = TAG_INDEX["PAD"], TAG_INDEX["O"]

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


# Valid untyped BIEOU: a sentence starts with B, O or U and ends with E, O or U; B and I are followed by I or
# E; E, O and U by B, O or U. PAD is never part of a sequence.
_FOLLOWERS = {"B": "IE", "I": "IE", "E": "BOU", "O": "BOU", "U": "BOU"}
REAL_TAGS = tuple(TAG_INDEX[t] for t in "BIEOU")
CAN_START = tuple(t in "BOU" for t in TAGS)  # indexed by tag id
CAN_END = tuple(t in "EOU" for t in TAGS)
CAN_FOLLOW = tuple(tuple(b in _FOLLOWERS.get(a, "") for b in TAGS) for a in TAGS)  # [previous][next]
_SOURCES = {j: [i for i in REAL_TAGS if CAN_FOLLOW[i][j]] for j in REAL_TAGS}  # allowed previous tags


def viterbi(
    scores: Sequence[Sequence[float]],
    transitions: Sequence[Sequence[float]] | None = None,
    start: Sequence[float] | None = None,
    end: Sequence[float] | None = None,
) -> list[int]:
    """The valid BIEOU tag sequence with the highest total score; scores[i][t] = word i's logit (or
    log-probability: the same argmax) for TAGS[t]. The argmax of each word alone can be invalid ("B O",
    "O I E"), which the lenient chunker turns into guessed spans; this picks the best consistent one.
    A CRF's learned scores join the total where given: transitions[prev][next], start[t] for the first
    word's tag and end[t] for the last's."""
    if not scores:
        return []
    trans = transitions or [[0.0] * len(TAGS)] * len(TAGS)
    first = [scores[0][j] + (start[j] if start else 0.0) for j in range(len(TAGS))]
    best = {j: (first[j] if CAN_START[j] else -math.inf) for j in REAL_TAGS}
    back: list[dict[int, int]] = []
    for row in scores[1:]:
        came = {j: max(_SOURCES[j], key=lambda i, j=j: best[i] + trans[i][j]) for j in REAL_TAGS}
        best = {j: best[came[j]] + trans[came[j]][j] + row[j] for j in REAL_TAGS}
        back.append(came)
    tag = max((j for j in REAL_TAGS if CAN_END[j]), key=lambda j: best[j] + (end[j] if end else 0.0))
    path = [tag]
    for came in reversed(back):
        tag = came[tag]
        path.append(tag)
    return path[::-1]


def spans_from_ids(tag_ids: Sequence[int]) -> list[Span]:
    """Untyped spans from predicted tag indices (PAD counts as O)."""
    return [(st, ed) for st, ed, _ in chunk([TAGS[t] for t in tag_ids])]
