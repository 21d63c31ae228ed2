"""Relations where A and B disagree on the same gold (the paper's Table 4 as data). Pure Python.

A disagreement is one relation key on which exactly one system is right: a gold relation only one system
found, or a spurious relation only one system predicted (the other one was right not to).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from enpar.breakdown import (
    DEFAULT_EDGES,
    arg_spans,
    bucket_index,
    bucket_label,
    pair_distance,
    sentence_value,
)
from enpar.metrics import align_predictions, match_keys
from enpar.schema import Sentence

CATEGORIES = ("Any disagreement", "B right, A wrong", "A right, B wrong")
BUCKET_BYS = ("distance", "n_relations", "n_entities", "length")


@dataclass(frozen=True)
class Disagreement:
    index: int  # position of the sentence in gold
    sentence_id: str
    label: str
    key: tuple[Any, ...]
    winner: str  # "A" or "B": the system that is right on this relation
    kind: str  # "found": gold, only the winner found it | "avoided": spurious, only the loser made it

    @property
    def distance(self) -> int:
        """Words between the two arguments (enpar.breakdown.pair_distance)."""
        return pair_distance(*arg_spans(self.key))

    @property
    def category(self) -> str:
        return "B right, A wrong" if self.winner == "B" else "A right, B wrong"


def find_disagreements(
    gold: Sequence[Sentence],
    pred_a: Sequence[Sentence],
    pred_b: Sequence[Sentence],
    *,
    convention: str = "relation_strict",
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
) -> list[Disagreement]:
    """Every relation on which exactly one of A and B is right, in gold order."""
    pred_a = align_predictions(gold, pred_a, what="predictions A")
    pred_b = align_predictions(gold, pred_b, what="predictions B")
    opts = {"symmetric": symmetric, "symmetric_labels": frozenset(symmetric_labels)}
    out = []
    for i, (g, a, b) in enumerate(zip(gold, pred_a, pred_b, strict=True)):
        gk, ak, bk = (match_keys(s, convention, **opts) for s in (g, a, b))
        for key in sorted(gk):
            if (key in ak) != (key in bk):
                out.append(Disagreement(i, g.id, key[-1], key, "A" if key in ak else "B", "found"))
        for key in sorted((ak ^ bk) - gk):
            out.append(Disagreement(i, g.id, key[-1], key, "B" if key in ak else "A", "avoided"))
    return out


def bucket_of(item: Disagreement, gold: Sequence[Sentence], by: str) -> str:
    """The item's bucket label (distance of the pair, or a property of its gold sentence)."""
    edges = DEFAULT_EDGES[by]
    value = item.distance if by == "distance" else sentence_value(gold[item.index], by)
    return bucket_label(bucket_index(value, edges), edges)


def bucket_labels(by: str) -> list[str]:
    edges = DEFAULT_EDGES[by]
    return [bucket_label(-1, edges)] + [bucket_label(i, edges) for i in range(len(edges))]


def filter_disagreements(
    items: Sequence[Disagreement],
    gold: Sequence[Sentence],
    *,
    category: str = CATEGORIES[0],
    label: str | None = None,
    bucket_by: str = "distance",
    bucket: str | None = None,
) -> list[Disagreement]:
    """Keep the items matching every filter that is set."""
    return [
        d
        for d in items
        if (category == CATEGORIES[0] or d.category == category)
        and (not label or d.label == label)
        and (not bucket or bucket_of(d, gold, bucket_by) == bucket)
    ]


def by_sentence(items: Sequence[Disagreement]) -> dict[int, list[Disagreement]]:
    """Group items by gold sentence index, in gold order."""
    out: dict[int, list[Disagreement]] = {}
    for d in items:
        out.setdefault(d.index, []).append(d)
    return dict(sorted(out.items()))


def describe(item: Disagreement, sentence: Sentence) -> str:
    """One line: who is right, how, on what relation (plain text; escape before HTML)."""
    (hs, he), (ts, te) = arg_spans(item.key)
    head, tail = " ".join(sentence.tokens[hs:he]), " ".join(sentence.tokens[ts:te])
    loser = "B" if item.winner == "A" else "A"
    how = f"only {item.winner} found it" if item.kind == "found" else f"only {loser} predicted it (spurious)"
    return f"{item.label}: {head} → {tail} — {how}"
