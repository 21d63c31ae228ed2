"""What the analysis pages analyse: a gold file and one or two systems' predictions lined up with it,
whatever they came from (the built-in pair, checkpoints' evaluations, uploaded files). Pure Python.

Beyond enpar.metrics.report: per-sentence scores (the sortable sentence table), the sentences behind a
breakdown bucket or a type (drill-down), and a paired test per bucket.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from enpar import metrics
from enpar.alignment import align_to_gold
from enpar.breakdown import (
    DEFAULT_EDGES,
    arg_spans,
    bucket_index,
    bucket_label,
    pair_distance,
    sentence_value,
)
from enpar.schema import Sentence
from enpar.significance import Resampler, paired_bootstrap, prf

BUCKET_TEST = "paired bootstrap over sentences (two-sided)"


@dataclass(frozen=True, eq=False)
class Analysis:
    """Gold plus one or two systems, each aligned to gold order and ids. Treated as read-only."""

    key: str  # identifies the content: caches and widget state follow it
    gold_name: str
    gold_source: str
    gold: tuple[Sentence, ...]
    names: tuple[str, ...]  # distinct display names, one per system
    preds: tuple[tuple[Sentence, ...], ...]
    sources: tuple[str, ...]  # where each system's predictions came from (for captions)
    aligned_by: tuple[str, ...]  # "id" or "position", per system
    symmetric_labels: frozenset[str] = frozenset()
    note: str = ""  # shown above everything (e.g. the built-in pair's caveat)
    warnings: tuple[str, ...] = field(default=())

    @property
    def paired(self) -> bool:
        return len(self.names) == 2


def distinct_names(names: Sequence[str]) -> tuple[str, ...]:
    """Names as given, or suffixed " (A)" / " (B)" when two are equal (reports key systems by name)."""
    if len(set(names)) == len(names):
        return tuple(names)
    return tuple(f"{n} ({'AB'[i]})" for i, n in enumerate(names))


def build(
    *,
    key: str,
    gold_name: str,
    gold_source: str,
    gold: Sequence[Sentence],
    systems: Sequence[tuple[str, str, Sequence[Sentence]]],
    symmetric_labels: frozenset[str] = frozenset(),
    note: str = "",
) -> Analysis:
    """An Analysis from (name, source, predictions) per system; DataError when one does not line up."""
    names = distinct_names([s[0] for s in systems])
    aligned, how = [], []
    for name, (_, _, preds) in zip(names, systems, strict=True):
        sents, by = align_to_gold(gold, preds, what=f"predictions of {name}")
        aligned.append(tuple(sents))
        how.append(by)
    warnings = []
    if len(aligned) == 2 and aligned[0] == aligned[1]:
        warnings.append(
            f"{names[0]} and {names[1]} hold exactly the same predictions"
            + (" (the same file)" if systems[0][1] == systems[1][1] else "")
            + ": every difference below is zero."
        )
    return Analysis(
        key=key,
        gold_name=gold_name,
        gold_source=gold_source,
        gold=tuple(gold),
        names=names,
        preds=tuple(aligned),
        sources=tuple(s[1] for s in systems),
        aligned_by=tuple(how),
        symmetric_labels=symmetric_labels,
        note=note,
        warnings=tuple(warnings),
    )


def report(an: Analysis, *, convention: str, symmetric: str, n_bootstrap: int) -> dict[str, Any]:
    """enpar.metrics.report of the analysis, systems keyed by their display names."""
    return metrics.report(
        an.gold,
        an.preds[0],
        vs=an.preds[1] if an.paired else None,
        names=an.names,
        symmetric=symmetric,
        symmetric_labels=an.symmetric_labels,
        breakdown_convention=convention,
        n_bootstrap=n_bootstrap,
    )


def _keys(an: Analysis, convention: str, symmetric: str) -> tuple[list[set], list[list[set]]]:
    opts = {"symmetric": symmetric, "symmetric_labels": an.symmetric_labels}
    gold = [metrics.match_keys(s, convention, **opts) for s in an.gold]
    return gold, [[metrics.match_keys(s, convention, **opts) for s in p] for p in an.preds]


def sentence_rows(an: Analysis, *, convention: str, symmetric: str) -> list[dict[str, Any]]:
    """Per gold sentence: each system's TP / FP / FN and F1 (None when nothing to find and nothing
    predicted), the F1 difference (last system minus first) and how many items the systems disagree on."""
    gold_keys, pred_keys = _keys(an, convention, symmetric)
    rows = []
    for i, g in enumerate(an.gold):
        row: dict[str, Any] = {"#": i + 1, "id": g.id, "words": len(g.tokens), "gold": len(gold_keys[i])}
        f1s = []
        for name, keys in zip(an.names, pred_keys, strict=True):
            p = keys[i]
            tp, fp, fn = len(p & gold_keys[i]), len(p - gold_keys[i]), len(gold_keys[i] - p)
            f1 = None if not (p or gold_keys[i]) else round(100 * prf(tp, len(p), len(gold_keys[i]))[2], 1)
            row.update({f"{name} F1": f1, f"{name} TP": tp, f"{name} FP": fp, f"{name} FN": fn})
            f1s.append(f1)
        if an.paired:
            both = None not in f1s
            row[delta_label(an)] = round(f1s[1] - f1s[0], 1) if both else None  # type: ignore[operator]
            row["disagreements"] = len(pred_keys[0][i] ^ pred_keys[1][i])
        rows.append(row)
    return rows


def delta_label(an: Analysis) -> str:
    return f"Δ F1 ({an.names[-1]} − {an.names[0]})"


def _relation_bucket(key: tuple[Any, ...], edges: Sequence[int]) -> str:
    return bucket_label(bucket_index(pair_distance(*arg_spans(key)), edges), edges)


def bucket_members(an: Analysis, *, by: str, convention: str, symmetric: str) -> dict[str, list[int]]:
    """Bucket label -> indices of the gold sentences behind it. Distance buckets hold relations, so a
    sentence sits in every bucket one of its gold or predicted relations falls in; the other breakdowns
    put each sentence in the bucket of its gold value."""
    edges = DEFAULT_EDGES[by]
    out: dict[str, list[int]] = {}
    if by == "distance":
        conv = convention if convention in metrics.RELATION_CONVENTIONS else "relation_strict"
        gold_keys, pred_keys = _keys(an, conv, symmetric)
        for i, g in enumerate(gold_keys):
            labels = {_relation_bucket(k, edges) for k in g.union(*(p[i] for p in pred_keys))}
            for label in sorted(labels):
                out.setdefault(label, []).append(i)
    else:
        for i, s in enumerate(an.gold):
            out.setdefault(bucket_label(bucket_index(sentence_value(s, by), edges), edges), []).append(i)
    return out


def type_members(an: Analysis, label: str, *, entity: bool) -> list[int]:
    """Indices of the sentences where gold or a system has an entity (or relation) of this type."""

    def has(s: Sentence) -> bool:
        items = s.entities if entity else s.relations
        return any(x.label == label for x in items)

    return [i for i, g in enumerate(an.gold) if has(g) or any(has(p[i]) for p in an.preds)]


def _bucket_counts(
    an: Analysis, *, by: str, convention: str, symmetric: str
) -> dict[str, list[list[tuple[int, int, int]]]]:
    """Bucket label -> per system, per sentence (tp, n_pred, n_gold) inside that bucket."""
    edges = DEFAULT_EDGES[by]
    gold_keys, pred_keys = _keys(an, convention, symmetric)
    labels = [bucket_label(b, edges) for b in (-1, *range(len(edges)))]
    out = {lab: [[(0, 0, 0)] * len(an.gold) for _ in an.preds] for lab in labels}
    for s, keys in enumerate(pred_keys):
        for i, (g, p) in enumerate(zip(gold_keys, keys, strict=True)):
            if by == "distance":
                cells: dict[str, list[int]] = {}
                for k in g:
                    cells.setdefault(_relation_bucket(k, edges), [0, 0, 0])[2] += 1
                for k in p:
                    cell = cells.setdefault(_relation_bucket(k, edges), [0, 0, 0])
                    cell[1] += 1
                    cell[0] += k in g
                for lab, c in cells.items():
                    out[lab][s][i] = (c[0], c[1], c[2])
            else:
                lab = bucket_label(bucket_index(sentence_value(an.gold[i], by), edges), edges)
                out[lab][s][i] = (len(g & p), len(p), len(g))
    return out


@functools.lru_cache(maxsize=4)
def _resampler(n_items: int, n_resamples: int, seed: int) -> Resampler:
    """One set of resamples per (size, count, seed), shared by the four breakdowns' bucket tests (drawing
    them is most of a test's cost)."""
    return Resampler(n_items, n_resamples, seed)


def bucket_tests(
    an: Analysis, *, by: str, convention: str, symmetric: str, n_bootstrap: int, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per bucket: the F1 difference (last system minus first) and its paired bootstrap p-value and 95%
    interval; p and interval are None without resamples or where either system has nothing to score."""
    if not an.paired:
        return {}
    if by == "distance" and convention not in metrics.RELATION_CONVENTIONS:
        convention = "relation_strict"  # as metrics.report does: entities have no pair distance
    resampler = _resampler(len(an.gold), n_bootstrap, seed) if n_bootstrap and an.gold else None
    out = {}
    for label, (a, b) in _bucket_counts(an, by=by, convention=convention, symmetric=symmetric).items():
        ta, tb = (tuple(map(sum, zip(*c, strict=True))) for c in (a, b))
        if not (ta[1] or ta[2]) or not (tb[1] or tb[2]):
            out[label] = {"delta": None, "p_value": None, "delta_ci": None}
            continue
        delta = prf(*tb)[2] - prf(*ta)[2]
        test = paired_bootstrap(resampler, b, a) if resampler else {"p_value": None, "delta_ci": None}
        out[label] = {"delta": delta, "p_value": test["p_value"], "delta_ci": test["delta_ci"]}
    return out
