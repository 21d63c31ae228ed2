"""BIEOU tags from spans and the lenient chunker (spec 4.3)."""

from __future__ import annotations

import itertools
import random

import pytest

from enpar.tagging import TAGS, bieou, bieou_ids, chunk, non_overlapping, spans_from_ids


def test_tag_vocabulary_matches_spec() -> None:
    assert TAGS == ("PAD", "B", "I", "E", "O", "U")


def test_bieou_from_spans() -> None:
    assert bieou(7, [(0, 1), (2, 5), (5, 7)]) == ["U", "O", "B", "I", "E", "B", "E"]
    assert bieou(3, []) == ["O", "O", "O"]
    assert bieou_ids(2, [(0, 2)]) == [TAGS.index("B"), TAGS.index("E")]


def test_overlap_policy_keeps_longest_then_earliest() -> None:
    # nested: the outer span wins; crossing: the longer one; equal length: the earlier one
    assert non_overlapping([(2, 3), (1, 5), (3, 4)]) == [(1, 5)]
    assert non_overlapping([(0, 2), (1, 4)]) == [(1, 4)]
    assert non_overlapping([(0, 2), (1, 3), (5, 6)]) == [(0, 2), (5, 6)]
    assert bieou(5, [(1, 2), (0, 3)]) == ["B", "I", "E", "O", "O"]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        (["I", "I"], [(0, 2)]),  # lenient start
        (["B", "O"], [(0, 1)]),  # unfinished chunk ends at its last word
        (["U", "E"], [(0, 1), (1, 2)]),  # E after U starts a new chunk
        (["B", "I", "E", "I", "E"], [(0, 3), (3, 5)]),  # I after E starts
        (["B", "B", "E"], [(0, 1), (1, 3)]),  # B always starts
        (["O", "E", "O", "U"], [(1, 2), (3, 4)]),
        (["B", "PAD", "E"], [(0, 1), (2, 3)]),  # PAD counts as O
        ([], []),
    ],
)
def test_chunker_untyped(tags: list[str], expected: list[tuple[int, int]]) -> None:
    assert [(s, e) for s, e, _ in chunk(tags)] == expected


def test_chunker_typed_tags_split_on_type_change() -> None:
    assert chunk(["B-ORG", "I-ORG", "I-PER", "E-PER", "O"]) == [(0, 2, "ORG"), (2, 4, "PER")]
    assert chunk(["U-GPE"]) == [(0, 1, "GPE")]
    assert chunk(["B", "E"]) == [(0, 2, "ENT")]


def test_chunker_rejects_unknown_tags() -> None:
    with pytest.raises(ValueError, match="unknown BIEOU tag"):
        chunk(["X"])


def test_round_trip_random_non_overlapping_spans() -> None:
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 15)
        spans = non_overlapping((a, rng.randint(a + 1, n)) for a in rng.sample(range(n), rng.randint(0, n)))
        assert spans_from_ids(bieou_ids(n, spans)) == spans


def _valid(tags: tuple[str, ...]) -> bool:
    follow = {"B": "IE", "I": "IE", "E": "BOU", "O": "BOU", "U": "BOU"}
    return tags[0] in "BOU" and tags[-1] in "EOU" and all(b in follow[a] for a, b in itertools.pairwise(tags))
