"""The evaluation engine: P/R/F1 conventions, breakdowns, uncertainty and a relation error taxonomy.

Pure Python (the app shows metrics without torch). Conventions, each reported under its own name:

- `entity`: exact (start, end, type) match.
- `relation` ("boundaries", the paper's "Relation"): both argument spans, direction and relation type;
  entity types are ignored.
- `relation_strict` (the paper's "Relation (exactly)"): also both argument entity types.

Symmetric relation labels (dataset metadata) are handled by `symmetric`:
`directed` (default, the paper: a reversed pair is FP + FN), `unordered` (a symmetric relation is counted
once whatever its direction, in gold and predictions alike) or `doubled` (PL-Marker: each symmetric
relation counts in both directions, in gold and predictions alike). Matching uses sets per sentence, so
duplicates collapse, as in the paper's code.

Scores are fractions in [0, 1]. Zero division: nothing predicted and nothing to find scores 1.0 (gold
against itself is perfect even without relations); any other empty denominator gives 0. Breakdown buckets
are the exception: a bucket with nothing predicted and nothing to find has no score (None).
Micro sums tp / #pred / #gold over sentences and types; macro is the unweighted mean of per-type
P, R and F1 over every type seen in gold or predictions. CIs and paired tests are on micro scores.

Bucket edges and the taxonomy live in `enpar.breakdown`, resampling in `enpar.significance`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from enpar.alignment import align_predictions as align_predictions  # part of this API (the app)
from enpar.breakdown import (
    BREAKDOWNS,
    DEFAULT_EDGES,
    GOLD_CATEGORIES,
    PRED_CATEGORIES,
    UNITS,
    Key,
    bucket_rows,
    check_by,
    resolve_all_edges,
    resolve_edges,
    taxonomy,
)
from enpar.schema import Sentence
from enpar.significance import (
    METRICS,
    Counts,
    Resampler,
    add_counts,
    approximate_randomization,
    paired_bootstrap,
    prf,
)

__all__ = [
    "BREAKDOWNS",
    "CONVENTIONS",
    "DEFAULT_EDGES",
    "GOLD_CATEGORIES",
    "PRED_CATEGORIES",
    "SYMMETRIC_MODES",
    "align_predictions",
    "bootstrap_ci",
    "breakdown",
    "error_taxonomy",
    "match_keys",
    "paired_test",
    "report",
    "score",
]

CONVENTIONS = ("entity", "relation", "relation_strict")
RELATION_CONVENTIONS = ("relation", "relation_strict")
CONVENTION_NAMES = {
    "entity": "entity: span + type",
    "relation": "relation (boundaries; paper 'Relation'): both spans + direction + relation type",
    "relation_strict": "relation_strict (paper 'Relation (exactly)'): relation + both entity types",
}
SYMMETRIC_MODES = ("directed", "unordered", "doubled")
TEST_METHODS = {
    "randomization": "approximate randomisation (two-sided, sentence-level swaps)",
    "bootstrap": "paired bootstrap (two-sided, shifted; sentences resampled)",
}
ZERO_DIVISION = "nothing predicted and nothing to find = 1.0 (None in a breakdown bucket); otherwise 0"
CI_METHOD = "percentile bootstrap over sentences"
FORMAT = "enpar-metrics/1"


# ---------------------------------------------------------------------------- alignment and matching keys


def _check_options(symmetric: str, symmetric_labels: Iterable[str]) -> frozenset[str]:
    if symmetric not in SYMMETRIC_MODES:
        raise ValueError(
            f"unknown symmetric mode {symmetric!r}; expected one of {', '.join(SYMMETRIC_MODES)}"
        )
    # A bare string would otherwise be read as a set of characters.
    return frozenset([symmetric_labels] if isinstance(symmetric_labels, str) else symmetric_labels)


def _check_convention(convention: str, allowed: Sequence[str] = CONVENTIONS) -> str:
    if convention not in allowed:
        raise ValueError(f"unknown convention {convention!r}; expected one of {', '.join(allowed)}")
    return convention


def match_keys(
    sentence: Sentence,
    convention: str,
    *,
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
) -> set[Key]:
    """The set of hashable items a convention matches on; the label is always the last element.

    entity: (start, end, type); relation: (hs, he, ts, te, label);
    relation_strict: (hs, he, head_type, ts, te, tail_type, label).
    """
    labels = _check_options(symmetric, symmetric_labels)
    if _check_convention(convention) == "entity":
        return {(e.start, e.end, e.label) for e in sentence.entities}
    strict = convention == "relation_strict"
    out: set[Key] = set()
    for rel in sentence.relations:
        h, t = rel.head, rel.tail
        head = (h.start, h.end, h.label) if strict else (h.start, h.end)
        tail = (t.start, t.end, t.label) if strict else (t.start, t.end)
        if symmetric != "directed" and rel.label in labels:
            if symmetric == "unordered":
                head, tail = sorted((head, tail))  # one canonical direction for both sides
            else:
                out.add((*tail, *head, rel.label))
        out.add((*head, *tail, rel.label))
    return out


@dataclass
class _Eval:
    """Gold and aligned systems with their matching keys computed once per convention."""

    gold: list[Sentence]
    systems: dict[str, list[Sentence]]
    symmetric: str
    labels: frozenset[str]
    _cache: dict[tuple[str | None, str], list[set[Key]]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        gold: Sequence[Sentence],
        systems: Mapping[str, Sequence[Sentence]],
        symmetric: str,
        symmetric_labels: Iterable[str],
    ) -> _Eval:
        labels = _check_options(symmetric, symmetric_labels)
        aligned = {n: align_predictions(gold, p, what=f"predictions {n!r}") for n, p in systems.items()}
        return cls(list(gold), aligned, symmetric, labels)

    def keys(self, system: str | None, convention: str) -> list[set[Key]]:
        """Per-sentence keys of a system, or of gold for system=None."""
        if (system, convention) not in self._cache:
            sents = self.gold if system is None else self.systems[system]
            opts = {"symmetric": self.symmetric, "symmetric_labels": self.labels}
            self._cache[system, convention] = [match_keys(s, convention, **opts) for s in sents]
        return self._cache[system, convention]

    def counts(self, system: str, convention: str) -> list[Counts]:
        pairs = zip(self.keys(None, convention), self.keys(system, convention), strict=True)
        return [(len(g & p), len(p), len(g)) for g, p in pairs]

    def breakdown(
        self, by: str, edges: Sequence[int], convention: str, resampler: Resampler | None, confidence: float
    ) -> list[dict[str, Any]]:
        if by == "distance" and convention not in RELATION_CONVENTIONS:
            raise ValueError("the distance breakdown needs a relation convention")
        systems = {name: self.keys(name, convention) for name in self.systems}
        return bucket_rows(
            self.gold,
            self.keys(None, convention),
            systems,
            by=by,
            edges=edges,
            resampler=resampler,
            confidence=confidence,
        )

    def taxonomy(self, system: str, items: bool) -> dict[str, Any]:
        # Keys of symmetric labels lost their direction only in "unordered" mode.
        either = self.labels if self.symmetric == "unordered" else frozenset()
        out = taxonomy(
            self.gold,
            self.systems[system],
            self.keys(None, "relation_strict"),
            self.keys(system, "relation_strict"),
            either_direction=either,
            items=items,
        )
        out["symmetric"] = self.symmetric
        return out


# ---------------------------------------------------------------------------- scores


def _entry(tp: int, n_pred: int, n_gold: int) -> dict[str, Any]:
    p, r, f = prf(tp, n_pred, n_gold)
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "n_pred": n_pred, "n_gold": n_gold}


def _table(gold_keys: Sequence[set[Key]], pred_keys: Sequence[set[Key]]) -> dict[str, Any]:
    per_label: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for g, p in zip(gold_keys, pred_keys, strict=True):
        for key in p:
            per_label[key[-1]][1] += 1
            per_label[key[-1]][0] += key in g
        for key in g:
            per_label[key[-1]][2] += 1
    per_type = {label: _entry(*c) for label, c in sorted(per_label.items())}
    total = add_counts([(c[0], c[1], c[2]) for c in per_label.values()])
    # No type at all (nothing to find, nothing predicted) follows the micro convention: 1.0.
    macro: dict[str, Any] = {
        m: sum(e[m] for e in per_type.values()) / len(per_type) if per_type else 1.0 for m in METRICS
    }
    macro.update(tp=total[0], n_pred=total[1], n_gold=total[2], n_types=len(per_type))
    return {"micro": _entry(*total), "macro": macro, "per_type": per_type}


def score(
    gold: Sequence[Sentence],
    pred: Sequence[Sentence],
    *,
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
    conventions: Sequence[str] = CONVENTIONS,
) -> dict[str, Any]:
    """`{convention: {"micro": {...}, "macro": {...}, "per_type": {label: {...}}}}`.

    micro and per-type entries hold precision, recall, f1, tp, n_pred and n_gold (gold support); macro
    holds the mean precision / recall / f1 over its n_types types plus the summed counts.
    """
    for conv in conventions:
        _check_convention(conv)
    ev = _Eval.build(gold, {"pred": pred}, symmetric, symmetric_labels)
    return {conv: _table(ev.keys(None, conv), ev.keys("pred", conv)) for conv in conventions}


# ---------------------------------------------------------------------------- uncertainty


def bootstrap_ci(
    gold: Sequence[Sentence],
    pred: Sequence[Sentence],
    *,
    convention: str = "relation_strict",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
) -> dict[str, Any]:
    """Micro P/R/F1 with percentile bootstrap intervals from resampling sentences (seeded).

    `{"convention", "average": "micro", "precision", "recall", "f1", "tp", "n_pred", "n_gold",
    "ci": {"precision": [lo, hi], "recall": [...], "f1": [...]}, "confidence", "method", "n_resamples",
    "seed"}`
    """
    _check_convention(convention)
    ev = _Eval.build(gold, {"pred": pred}, symmetric, symmetric_labels)
    counts = ev.counts("pred", convention)
    out = {"convention": convention, "average": "micro", **_entry(*add_counts(counts))}
    out["ci"] = Resampler(len(counts), n_resamples, seed).ci(counts, confidence)
    out.update(confidence=confidence, method=CI_METHOD, n_resamples=n_resamples, seed=seed)
    return out


def _paired(
    ev: _Eval,
    a: str,
    b: str,
    convention: str,
    metric: str,
    method: str,
    resampler: Resampler | None,
    confidence: float,
) -> dict[str, Any]:
    if method not in TEST_METHODS:
        raise ValueError(f"unknown test method {method!r}; expected one of {', '.join(TEST_METHODS)}")
    counts_a, counts_b = ev.counts(a, convention), ev.counts(b, convention)
    k = METRICS.index(metric)
    value_a, value_b = prf(*add_counts(counts_a))[k], prf(*add_counts(counts_b))[k]
    out = {"convention": convention, "metric": metric, "a": a, "b": b, "value_a": value_a, "value_b": value_b}
    out.update(delta=value_a - value_b, delta_ci=None, p_value=None, method=None, n_resamples=0, seed=None)
    out["confidence"] = confidence
    if resampler:  # without resamples: the observed difference only
        boot = paired_bootstrap(resampler, counts_a, counts_b, metric=metric, confidence=confidence)
        if method == "randomization":
            trials = {"n_trials": resampler.n_resamples, "seed": resampler.seed}
            p_value = approximate_randomization(counts_a, counts_b, metric=metric, **trials)["p_value"]
        else:
            p_value = boot["p_value"]
        out.update(delta_ci=boot["delta_ci"], p_value=p_value, method=TEST_METHODS[method])
        out.update(n_resamples=resampler.n_resamples, seed=resampler.seed)
    return out


def paired_test(
    gold: Sequence[Sentence],
    pred_a: Sequence[Sentence],
    pred_b: Sequence[Sentence],
    *,
    convention: str = "relation_strict",
    metric: str = "f1",
    method: str = "randomization",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
) -> dict[str, Any]:
    """Does system A's micro `metric` differ from B's on the same gold? delta = A - B.

    `method`: "randomization" (approximate randomisation, default) or "bootstrap" (paired bootstrap).
    The p-value is two-sided; `delta_ci` is always the paired-bootstrap percentile interval of delta.
    `{"convention", "metric", "a", "b", "value_a", "value_b", "delta", "delta_ci", "p_value", "method",
    "n_resamples", "seed", "confidence"}`
    """
    _check_convention(convention)
    ev = _Eval.build(gold, {"A": pred_a, "B": pred_b}, symmetric, symmetric_labels)
    resampler = Resampler(len(gold), n_resamples, seed)
    return _paired(ev, "A", "B", convention, metric, method, resampler, confidence)


# ---------------------------------------------------------------------------- breakdowns and taxonomy


def breakdown(
    gold: Sequence[Sentence],
    systems: Mapping[str, Sequence[Sentence]],
    *,
    by: str,
    edges: Sequence[int] | None = None,
    convention: str = "relation_strict",
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[dict[str, Any]]:
    """Micro scores per bucket for any number of systems on the same gold (the paper's Figures 7-9).

    by="distance": relations bucketed by right.start - left.end + 1 (adjacent = 1), gold and predicted
    relations each by their own distance; support = gold relations in the bucket.
    by="n_relations" | "n_entities" | "length": sentences bucketed by their gold relation count, gold
    entity count or token count; support = sentences in the bucket.
    Rows: `{"bucket", "lo", "hi", "underflow", "support", "unit", "systems": {name: {"precision", "recall",
    "f1", "tp", "n_pred", "n_gold", "ci": [lo, hi] of F1}}}`; scores and ci are None for a system with
    nothing predicted and nothing to find in the bucket, ci is None with n_resamples=0.
    Values below the first edge get an extra leading "<edge" row (underflow=True) when it holds anything.
    With the default n_relations edges that row is the sentences without gold relations: every
    prediction there is a false positive, so it only tells precision (0) and how many were predicted.
    """
    _check_convention(convention)
    ev = _Eval.build(gold, systems, symmetric, symmetric_labels)
    resampler = Resampler(len(ev.gold), n_resamples, seed) if n_resamples else None
    return ev.breakdown(check_by(by), resolve_edges(by, edges), convention, resampler, confidence)


def error_taxonomy(
    gold: Sequence[Sentence],
    pred: Sequence[Sentence],
    *,
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
    items: bool = True,
) -> dict[str, Any]:
    """Categorise every predicted and every gold relation (relation_strict keys under `symmetric`).

    Precedence, first match wins (descriptions in PRED_CATEGORIES / GOLD_CATEGORIES):
    correct > entity_type > reversed > wrong_type > boundary > spurious (pred side) or
    missed_entity / missed_found (gold side). Pred counts add up to n_pred and gold counts to n_gold of
    relation_strict; "correct" equals its tp on both sides, correct + entity_type the tp of "relation".
    `{"convention", "symmetric", "n_pred", "n_gold", "pred": {cat: n}, "gold": {cat: n},
    "items": [{"sentence", "side", "category", "relation", "counterpart"}]}` where relation and counterpart
    (the related relation on the other side, or None) are `{"head": [s, e, type], "tail": [...], "label"}`.
    """
    return _Eval.build(gold, {"pred": pred}, symmetric, symmetric_labels).taxonomy("pred", items)


# ---------------------------------------------------------------------------- report


def report(
    gold: Sequence[Sentence],
    pred: Sequence[Sentence],
    *,
    vs: Sequence[Sentence] | None = None,
    names: Sequence[str] = ("A", "B"),
    symmetric: str = "directed",
    symmetric_labels: Iterable[str] = frozenset(),
    edges: Mapping[str, Sequence[int]] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    breakdown_convention: str = "relation_strict",
    test: str = "randomization",
    items: bool = True,
) -> dict[str, Any]:
    """Everything about one system (or two, with `vs`) as a JSON-serialisable dict (`metrics.json`).

    Top level: format, settings, conventions, gold, systems {name: {scores, taxonomy}},
    breakdowns {by: {convention, unit, edges, rows}}, paired_test ({convention: test} or None).
    n_bootstrap=0 skips CIs and p-values (None). The same seeded resamples serve every CI and test.
    """
    names = list(names)[: 1 if vs is None else 2]
    if len(names) < (1 if vs is None else 2) or len(set(names)) != len(names):
        raise ValueError(f"need distinct system names, got {names!r}")
    if test not in TEST_METHODS:
        raise ValueError(f"unknown test method {test!r}; expected one of {', '.join(TEST_METHODS)}")
    _check_convention(breakdown_convention)
    all_edges = resolve_all_edges(edges)
    systems = {names[0]: pred} if vs is None else {names[0]: pred, names[1]: vs}
    ev = _Eval.build(gold, systems, symmetric, symmetric_labels)
    resampler = Resampler(len(ev.gold), n_bootstrap, seed) if n_bootstrap else None

    out_systems = {name: _system_report(ev, name, resampler, confidence, items) for name in systems}
    breakdowns = _breakdowns(ev, all_edges, breakdown_convention, resampler, confidence)
    paired = None
    if vs is not None:
        paired = {
            conv: _paired(ev, names[0], names[1], conv, "f1", test, resampler, confidence)
            for conv in CONVENTIONS
        }

    settings = {
        "symmetric": symmetric,
        "symmetric_labels": sorted(ev.labels),
        "n_bootstrap": n_bootstrap,
        "seed": seed,
        "confidence": confidence,
        "ci_method": CI_METHOD,
        "test": TEST_METHODS[test],
        "breakdown_convention": breakdown_convention,
        "zero_division": ZERO_DIVISION,
        "edges": {by: list(e) for by, e in all_edges.items()},
    }
    return {
        "format": FORMAT,
        "settings": settings,
        "conventions": dict(CONVENTION_NAMES),
        "gold": _gold_stats(ev.gold),
        "systems": out_systems,
        "breakdowns": breakdowns,
        "paired_test": paired,
    }


def _system_report(
    ev: _Eval, name: str, resampler: Resampler | None, confidence: float, items: bool
) -> dict[str, Any]:
    """One system's scores per convention (micro with its CI, macro, per type) and its error taxonomy."""
    scores = {conv: _table(ev.keys(None, conv), ev.keys(name, conv)) for conv in CONVENTIONS}
    for conv in CONVENTIONS:
        ci = resampler.ci(ev.counts(name, conv), confidence) if resampler else None
        scores[conv]["micro"]["ci"] = ci
    return {"scores": scores, "taxonomy": ev.taxonomy(name, items)}


def _breakdowns(
    ev: _Eval,
    all_edges: Mapping[str, Sequence[int]],
    convention: str,
    resampler: Resampler | None,
    confidence: float,
) -> dict[str, Any]:
    out = {}
    for by in BREAKDOWNS:
        # Entities have no pair distance: that one breakdown falls back to relation_strict (and says so).
        conv = convention
        if by == "distance" and conv not in RELATION_CONVENTIONS:
            conv = "relation_strict"
        rows = ev.breakdown(by, all_edges[by], conv, resampler, confidence)
        out[by] = {"convention": conv, "unit": UNITS[by], "edges": list(all_edges[by]), "rows": rows}
    return out


def _gold_stats(gold: Sequence[Sentence]) -> dict[str, int]:
    return {
        "n_sentences": len(gold),
        "n_tokens": sum(len(s.tokens) for s in gold),
        "n_entities": sum(len(set(s.entities)) for s in gold),
        "n_relations": sum(len(set(s.relations)) for s in gold),
    }
