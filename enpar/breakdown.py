"""Breakdowns behind `enpar.metrics`: scores per bucket (the paper's Figures 7-9) and relation errors per
category (the error taxonomy). Pure Python; works on the per-sentence matching keys that metrics builds.

Bucket edges are the ascending lower bounds of the buckets: `(1, 2, 3, 5, 9)` means 1, 2, 3-4, 5-8, 9+.
Values below the first edge are not dropped: they form an extra "underflow" bucket labelled `<first`
(for example sentences without gold relations, or nested arguments with a distance <= 0).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from enpar.schema import Sentence
from enpar.significance import Counts, Resampler, add_counts, prf

Key = tuple[Any, ...]  # see metrics.match_keys; the label is always last
Span = tuple[int, int]

BREAKDOWNS = ("distance", "n_relations", "n_entities", "length")

# enpar-method.md section 6 (the paper states no edges; these are the suggested ones).
DEFAULT_EDGES: dict[str, tuple[int, ...]] = {
    "distance": (1, 2, 3, 5, 9),
    "n_relations": (1, 2, 3, 4, 5),
    "n_entities": (1, 3, 4, 5, 6, 8),
    "length": (1, 11, 21, 31, 41),
}

# What a bucket's support counts: distance buckets hold relations, all others sentences.
UNITS = {
    "distance": "gold relations",
    "n_relations": "sentences",
    "n_entities": "sentences",
    "length": "sentences",
}

UNDERFLOW = -1

# Error taxonomy (relation_strict keys under the chosen symmetric mode). Each relation gets the first
# category that applies, in this order, so the counts add up to n_pred / n_gold.
PRED_CATEGORIES = {
    "correct": "exact match (relation_strict)",
    "entity_type": "right by boundaries (spans, direction, type) but an argument's entity type is wrong",
    "reversed": "gold has the same two spans and relation type in the other direction",
    "wrong_type": "gold relates the same two spans (either direction) with another relation type",
    "boundary": "gold has the same relation type and direction with overlapping, not identical, arguments",
    "spurious": "none of the above",
}
GOLD_CATEGORIES = {
    "correct": "exact match (relation_strict)",
    "entity_type": "predicted right by boundaries but with a wrong argument entity type",
    "reversed": "predicted with the same spans and relation type in the other direction",
    "wrong_type": "the same two spans (either direction) predicted with another relation type",
    "boundary": "predicted with the same type and direction but overlapping, not identical, arguments",
    "missed_entity": "not predicted; an argument entity (span + type) was not predicted",
    "missed_found": "not predicted although both argument entities (span + type) were predicted",
}


# ---------------------------------------------------------------------------- buckets


def check_by(by: str) -> str:
    if by not in BREAKDOWNS:
        raise ValueError(f"unknown breakdown {by!r}; expected one of {', '.join(BREAKDOWNS)}")
    return by


def resolve_edges(by: str, edges: Sequence[int] | None = None) -> tuple[int, ...]:
    """The edges to use for `by`, validated (non-empty, integers, strictly increasing)."""
    check_by(by)
    if edges is None:
        return DEFAULT_EDGES[by]
    out = tuple(edges)
    if not out or not all(isinstance(e, int) and not isinstance(e, bool) for e in out):
        raise ValueError(f"edges for {by!r} must be a non-empty list of integers, got {list(out)!r}")
    if any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise ValueError(f"edges for {by!r} must be strictly increasing, got {list(out)!r}")
    return out


def resolve_all_edges(edges: Mapping[str, Sequence[int]] | None = None) -> dict[str, tuple[int, ...]]:
    edges = dict(edges or {})
    unknown = set(edges) - set(BREAKDOWNS)
    if unknown:
        raise ValueError(f"edges given for unknown breakdowns {sorted(unknown)}")
    return {by: resolve_edges(by, edges.get(by)) for by in BREAKDOWNS}


def bucket_index(value: int, edges: Sequence[int]) -> int:
    """Index of the bucket holding `value`, or UNDERFLOW when it is below the first edge."""
    return bisect_right(edges, value) - 1


def bucket_label(index: int, edges: Sequence[int]) -> str:
    if index == UNDERFLOW:
        return f"<{edges[0]}"
    lo = edges[index]
    if index == len(edges) - 1:
        return f"{lo}+"
    hi = edges[index + 1] - 1
    return str(lo) if hi == lo else f"{lo}-{hi}"


def bucket_bounds(index: int, edges: Sequence[int]) -> tuple[int | None, int | None]:
    """Inclusive (lo, hi) of a bucket; None for an open end."""
    if index == UNDERFLOW:
        return None, edges[0] - 1
    return edges[index], (edges[index + 1] - 1 if index + 1 < len(edges) else None)


def arg_spans(key: Key) -> tuple[Span, Span]:
    """Head and tail spans of a relation key (relation: 5 fields, relation_strict: 7)."""
    if len(key) == 7:
        return (key[0], key[1]), (key[3], key[4])
    return (key[0], key[1]), (key[2], key[3])


def pair_distance(a: Span, b: Span) -> int:
    """right.start - left.end + 1 over end-exclusive spans (enpar-method.md section 5): adjacent = 1.

    Left is the argument that starts first (then the shorter one); overlapping or nested arguments give
    a distance <= 0.
    """
    left, right = sorted((a, b))
    return right[0] - left[1] + 1


def sentence_value(sentence: Sentence, by: str) -> int:
    """The per-sentence value of a sentence-level breakdown, always taken from the gold sentence."""
    if by == "n_relations":
        return len(set(sentence.relations))
    if by == "n_entities":
        return len(set(sentence.entities))
    if by == "length":
        return len(sentence.tokens)
    raise ValueError(f"{by!r} is not a sentence-level breakdown")


def _bucket_entry(counts: list[Counts], resampler: Resampler | None, confidence: float) -> dict[str, Any]:
    tp, n_pred, n_gold = add_counts(counts)
    if n_pred == 0 and n_gold == 0:
        # Nothing to find and nothing predicted in this bucket: no score rather than a perfect one.
        return {"precision": None, "recall": None, "f1": None, "tp": 0, "n_pred": 0, "n_gold": 0, "ci": None}
    p, r, f = prf(tp, n_pred, n_gold)
    ci = resampler.ci(counts, confidence)["f1"] if resampler else None
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "n_pred": n_pred, "n_gold": n_gold, "ci": ci}


def bucket_rows(
    gold: Sequence[Sentence],
    gold_keys: Sequence[set[Key]],
    system_keys: Mapping[str, Sequence[set[Key]]],
    *,
    by: str,
    edges: Sequence[int],
    resampler: Resampler | None,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """Rows of a breakdown (see metrics.breakdown); keys must be relation keys for by="distance"."""
    n = len(gold)
    indices = [UNDERFLOW, *range(len(edges))]
    support = dict.fromkeys(indices, 0)
    per_system: dict[str, dict[int, list[Counts]]] = {}
    if check_by(by) == "distance":

        def bucket_of(key: Key) -> int:
            return bucket_index(pair_distance(*arg_spans(key)), edges)

        # Gold and predicted relations each go to the bucket of their own distance; a true positive has
        # the same spans on both sides, hence the same bucket.
        gold_buckets = [{key: bucket_of(key) for key in g} for g in gold_keys]
        for g in gold_buckets:
            for b in g.values():
                support[b] += 1
        for name, pred_keys in system_keys.items():
            cells = {b: [[0, 0, 0] for _ in range(n)] for b in indices}
            for i, (g, p) in enumerate(zip(gold_buckets, pred_keys, strict=True)):
                for b in g.values():
                    cells[b][i][2] += 1
                for key in p:
                    b = g[key] if key in g else bucket_of(key)
                    cells[b][i][1] += 1
                    cells[b][i][0] += key in g
            per_system[name] = {b: [(c[0], c[1], c[2]) for c in rows] for b, rows in cells.items()}
    else:
        sentence_bucket = [bucket_index(sentence_value(s, by), edges) for s in gold]
        for b in sentence_bucket:
            support[b] += 1
        for name, pred_keys in system_keys.items():
            counts = [(len(g & p), len(p), len(g)) for g, p in zip(gold_keys, pred_keys, strict=True)]
            per_system[name] = {
                b: [c if sb == b else (0, 0, 0) for c, sb in zip(counts, sentence_bucket, strict=True)]
                for b in indices
            }
    rows = []
    for b in indices:
        systems = {name: _bucket_entry(per_system[name][b], resampler, confidence) for name in system_keys}
        if b == UNDERFLOW and support[b] == 0 and not any(s["n_pred"] for s in systems.values()):
            continue  # an empty underflow bucket is noise; a non-empty one is never dropped
        lo, hi = bucket_bounds(b, edges)
        rows.append(
            {
                "bucket": bucket_label(b, edges),
                "lo": lo,
                "hi": hi,
                "underflow": b == UNDERFLOW,
                "support": support[b],
                "unit": UNITS[by],
                "systems": systems,
            }
        )
    return rows


# ---------------------------------------------------------------------------- error taxonomy


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@dataclass
class _Index:
    """Lookups over one side's relation_strict keys of a sentence."""

    keys: set[Key]
    boundary: dict[Key, Key] = field(default_factory=dict)
    by_pair: dict[tuple[Span, Span], list[Key]] = field(default_factory=lambda: defaultdict(list))
    by_label: dict[str, list[Key]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for key in sorted(self.keys):  # sorted: the counterpart reported for an error is deterministic
            head, tail = arg_spans(key)
            self.boundary.setdefault((*head, *tail, key[-1]), key)
            self.by_pair[head, tail].append(key)
            self.by_label[key[-1]].append(key)


def _near_miss(key: Key, other: _Index, either_direction: bool) -> tuple[str, Key] | None:
    """The first error category that links `key` to a relation on the other side, in precedence order."""
    head, tail = arg_spans(key)
    label = key[-1]
    if (*head, *tail, label) in other.boundary:
        return "entity_type", other.boundary[(*head, *tail, label)]
    for k in other.by_pair.get((tail, head), ()):
        if k[-1] == label:
            return "reversed", k
    # The same label on this ordered pair was caught above, so any relation left here has another label.
    same_pair = (*other.by_pair.get((head, tail), ()), *other.by_pair.get((tail, head), ()))
    if same_pair:
        return "wrong_type", same_pair[0]
    for k in other.by_label.get(label, ()):
        k_head, k_tail = arg_spans(k)
        if (_overlaps(head, k_head) and _overlaps(tail, k_tail)) or (
            either_direction and _overlaps(head, k_tail) and _overlaps(tail, k_head)
        ):
            return "boundary", k
    return None


def _key_json(key: Key) -> dict[str, Any]:
    return {"head": [key[0], key[1], key[2]], "tail": [key[3], key[4], key[5]], "label": key[6]}


def taxonomy(
    gold: Sequence[Sentence],
    pred: Sequence[Sentence],
    gold_keys: Sequence[set[Key]],
    pred_keys: Sequence[set[Key]],
    *,
    either_direction: frozenset[str] = frozenset(),
    items: bool = True,
) -> dict[str, Any]:
    """Categorise every predicted and gold relation_strict key (see metrics.error_taxonomy).

    `either_direction`: labels whose keys were put in one canonical direction (symmetric="unordered"),
    so a boundary error may also cross the argument order.
    """
    pred_counts = dict.fromkeys(PRED_CATEGORIES, 0)
    gold_counts = dict.fromkeys(GOLD_CATEGORIES, 0)
    out_items: list[dict[str, Any]] = []
    for gold_sent, pred_sent, g, p in zip(gold, pred, gold_keys, pred_keys, strict=True):
        g_index, p_index = _Index(g), _Index(p)
        found = {(e.start, e.end, e.label) for e in pred_sent.entities}
        for side, own, other in (("pred", p, g_index), ("gold", g, p_index)):
            for key in sorted(own):
                if key in other.keys:
                    match: tuple[str, Key | None] | None = ("correct", key)
                else:
                    match = _near_miss(key, other, key[-1] in either_direction)
                if match:
                    category, counterpart = match
                elif side == "pred":
                    category, counterpart = "spurious", None
                else:
                    both_found = key[0:3] in found and key[3:6] in found
                    category, counterpart = ("missed_found" if both_found else "missed_entity"), None
                (pred_counts if side == "pred" else gold_counts)[category] += 1
                if items:
                    out_items.append(
                        {
                            "sentence": gold_sent.id,
                            "side": side,
                            "category": category,
                            "relation": _key_json(key),
                            "counterpart": _key_json(counterpart) if counterpart else None,
                        }
                    )
    return {
        "convention": "relation_strict",
        "n_pred": sum(pred_counts.values()),
        "n_gold": sum(gold_counts.values()),
        "pred": pred_counts,
        "gold": gold_counts,
        "items": out_items,
    }
