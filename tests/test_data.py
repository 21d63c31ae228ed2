"""Training targets: what BIEOU tags and one-label-per-pair cannot hold is counted, never hidden."""

from __future__ import annotations

from transformers import AutoTokenizer

from enpar.data import build_labels, make_examples, target_coverage
from enpar.encoding import default_encoder_path
from enpar.schema import Entity, Relation, Sentence


def test_target_coverage_counts_nested_spans_and_shared_pairs() -> None:
    big, inner, other = Entity(0, 3, "Method"), Entity(1, 2, "Method"), Entity(4, 5, "Task")
    sent = Sentence(
        "s1",
        ("a", "neural", "network", "for", "parsing"),
        (big, inner, other),
        (Relation(big, other, "USED-FOR"), Relation(big, other, "PART-OF")),  # same pair, two labels
    )
    labels = build_labels([sent])
    examples = make_examples([sent], AutoTokenizer.from_pretrained(default_encoder_path()), labels)
    assert target_coverage(examples) == (
        "targets: tags hold 2 of 3 gold spans (nested ones stay candidates); "
        "relation targets 1 of 2 distinct gold relations (one label per entity pair)"
    )
