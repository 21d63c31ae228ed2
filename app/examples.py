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

CATEGORIES = ("Any disagreement", "B right, A wrong", "A right, B wrong")  # A/B: the first/second system
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


def _types(item: Disagreement, sentence: Sentence) -> tuple[str, str]:
    """Entity types of the two arguments: from the key (strict convention), else from the sentence that
    holds the relation (gold for a found one, the spurious system's prediction for an avoided one)."""
    if len(item.key) == 7:
        return str(item.key[2]), str(item.key[5])
    by_span = {e.span: e.label for e in sentence.entities}
    (hs, he), (ts, te) = arg_spans(item.key)
    return by_span.get((hs, he), "?"), by_span.get((ts, te), "?")


def describe(
    item: Disagreement,
    sentence: Sentence,
    names: dict[str, str] | None = None,
    *,
    holder: Sentence | None = None,
) -> str:
    """One line: who is right, how, on what relation, with both arguments' entity types (plain text;
    escape before HTML). `holder`: the sentence whose entities give the types under the boundaries
    convention (default: `sentence`)."""
    names = names or {"A": "A", "B": "B"}
    (hs, he), (ts, te) = arg_spans(item.key)
    head, tail = " ".join(sentence.tokens[hs:he]), " ".join(sentence.tokens[ts:te])
    head_type, tail_type = _types(item, holder or sentence)
    loser = "B" if item.winner == "A" else "A"
    how = (
        f"only {names[item.winner]} found it"
        if item.kind == "found"
        else f"only {names[loser]} predicted it (spurious)"
    )
    return f"{item.label}: {head} [{head_type}] → {tail} [{tail_type}] — {how}"


def holder_of(item: Disagreement, gold: Sentence, systems: dict[str, Sentence]) -> Sentence:
    """The sentence that holds the disagreeing relation: gold for a found one, else the spurious system's."""
    if item.kind == "found":
        return gold
    return systems["B" if item.winner == "A" else "A"]


def rows(
    items: Sequence[Disagreement],
    gold: Sequence[Sentence],
    systems: dict[str, Sequence[Sentence]],
    names: dict[str, str],
) -> list[dict[str, Any]]:
    """The disagreement list as table rows (for the CSV export)."""
    out = []
    for d in items:
        g = gold[d.index]
        holder = holder_of(d, g, {k: v[d.index] for k, v in systems.items()})
        (hs, he), (ts, te) = arg_spans(d.key)
        head_type, tail_type = _types(d, holder)
        out.append(
            {
                "sentence": d.index + 1,
                "id": d.sentence_id,
                "relation": d.label,
                "head": " ".join(g.tokens[hs:he]),
                "head type": head_type,
                "tail": " ".join(g.tokens[ts:te]),
                "tail type": tail_type,
                "right": names[d.winner],
                "how": "found a gold relation" if d.kind == "found" else "avoided a spurious one",
                "distance": d.distance,
                "text": " ".join(g.tokens),
            }
        )
    return out
