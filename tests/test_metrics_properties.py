"""Invariants of enpar.metrics on random sentences (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enpar import metrics
from enpar.schema import Entity, Relation, Sentence

ENTITY_LABELS = ("A", "B", "C")
RELATION_LABELS = ("R", "S", "T")  # S, T may be declared symmetric
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def annotations(draw: st.DrawFn, n_tokens: int) -> tuple[tuple[Entity, ...], tuple[Relation, ...]]:
    """Entities with distinct spans (one label per span, as the readers guarantee) and relations on them."""
    spans = draw(st.lists(st.tuples(st.integers(0, n_tokens - 1), st.integers(1, 3)), max_size=5))
    by_span = {}
    for start, width in spans:
        span = (start, min(start + width, n_tokens))
        by_span.setdefault(span, Entity(*span, draw(st.sampled_from(ENTITY_LABELS))))
    entities = tuple(by_span.values())
    if not entities:
        return entities, ()
    pick = st.sampled_from(entities)
    relations = draw(st.lists(st.builds(Relation, pick, pick, st.sampled_from(RELATION_LABELS)), max_size=6))
    return entities, tuple(relations)


@st.composite
def corpora(draw: st.DrawFn) -> tuple[list[Sentence], list[Sentence]]:
    """Gold and predictions for 1-4 sentences; predictions reuse some gold annotations to get matches."""
    gold, pred = [], []
    for i in range(draw(st.integers(1, 4))):
        tokens = tuple(f"w{j}" for j in range(draw(st.integers(1, 12))))
        g_ents, g_rels = draw(annotations(len(tokens)))
        p_ents, p_rels = draw(annotations(len(tokens)))
        keep = draw(st.lists(st.booleans(), min_size=len(g_rels), max_size=len(g_rels)))
        kept = [r for r, k in zip(g_rels, keep, strict=True) if k]
        # Gold relations carried over keep their entities; predicted entities on the same spans then go.
        carried = {e for r in kept for e in (r.head, r.tail)}
        spans = {e.span for e in carried}
        p_ents = tuple(carried) + tuple(e for e in p_ents if e.span not in spans)
        p_rels = tuple(kept) + tuple(
            r for r in p_rels if r.head.span not in spans and r.tail.span not in spans
        )
        gold.append(Sentence(f"s{i}", tokens, g_ents, g_rels))
        pred.append(Sentence(f"s{i}", tokens, p_ents, p_rels))
    return gold, pred


modes = st.sampled_from(metrics.SYMMETRIC_MODES)
symmetric_sets = st.sets(st.sampled_from(RELATION_LABELS))


@FAST
@given(corpora(), modes, symmetric_sets)
def test_gold_against_itself_is_perfect(
    data: tuple[list[Sentence], list[Sentence]], mode: str, labels: set[str]
) -> None:
    gold, _ = data
    scores = metrics.score(gold, gold, symmetric=mode, symmetric_labels=labels)
    for conv in metrics.CONVENTIONS:
        for average in ("micro", "macro"):
            assert [scores[conv][average][m] for m in ("precision", "recall", "f1")] == [1.0, 1.0, 1.0]
        assert all(e["f1"] == 1.0 for e in scores[conv]["per_type"].values())
    tax = metrics.error_taxonomy(gold, gold, symmetric=mode, symmetric_labels=labels)
    assert tax["pred"]["correct"] == tax["n_pred"] and tax["gold"]["correct"] == tax["n_gold"]


@FAST
@given(corpora(), modes, symmetric_sets, st.data())
def test_a_spurious_prediction_never_raises_precision(
    data: tuple[list[Sentence], list[Sentence]], mode: str, labels: set[str], draw: st.DataObject
) -> None:
    gold, pred = data
    i = draw.draw(st.integers(0, len(pred) - 1))
    s = pred[i]
    start = draw.draw(st.integers(0, len(s.tokens) - 1))
    new = Entity(start, start + 1, "NEW")  # a type gold never has: wrong in every convention
    head = draw.draw(st.sampled_from(s.entities)) if s.entities else new
    extra = Sentence(s.id, s.tokens, (*s.entities, new), (*s.relations, Relation(head, new, "NEW")))
    before = metrics.score(gold, pred, symmetric=mode, symmetric_labels=labels)
    after = metrics.score(gold, [*pred[:i], extra, *pred[i + 1 :]], symmetric=mode, symmetric_labels=labels)
    for conv in metrics.CONVENTIONS:
        b, a = before[conv]["micro"], after[conv]["micro"]
        assert a["precision"] <= b["precision"]
        assert (a["tp"], a["n_gold"]) == (b["tp"], b["n_gold"])
        if b["n_gold"]:  # with nothing to find, recall drops from the empty-vs-empty 1.0 to 0
            assert a["recall"] == b["recall"]
        assert a["n_pred"] > b["n_pred"]


@FAST
@given(corpora(), modes, symmetric_sets)
def test_taxonomy_adds_up(data: tuple[list[Sentence], list[Sentence]], mode: str, labels: set[str]) -> None:
    gold, pred = data
    tax = metrics.error_taxonomy(gold, pred, symmetric=mode, symmetric_labels=labels)
    scores = metrics.score(gold, pred, symmetric=mode, symmetric_labels=labels)
    strict, boundaries = scores["relation_strict"]["micro"], scores["relation"]["micro"]
    assert sum(tax["pred"].values()) == tax["n_pred"] == strict["n_pred"]
    assert sum(tax["gold"].values()) == tax["n_gold"] == strict["n_gold"]
    assert tax["pred"]["correct"] == tax["gold"]["correct"] == strict["tp"]
    # right by boundaries = exactly right + wrong only in an entity type, on both sides
    assert tax["pred"]["correct"] + tax["pred"]["entity_type"] == boundaries["tp"]
    assert tax["gold"]["correct"] + tax["gold"]["entity_type"] == boundaries["tp"]
    assert len(tax["items"]) == tax["n_pred"] + tax["n_gold"]


@FAST
@given(corpora(), modes, st.sampled_from(metrics.BREAKDOWNS))
def test_breakdown_buckets_partition_the_counts(
    data: tuple[list[Sentence], list[Sentence]], mode: str, by: str
) -> None:
    gold, pred = data
    total = metrics.score(gold, pred, symmetric=mode, symmetric_labels={"S"})["relation_strict"]["micro"]
    rows = metrics.breakdown(
        gold, {"A": pred, "B": gold}, by=by, symmetric=mode, symmetric_labels={"S"}, n_resamples=0
    )
    for key in ("tp", "n_pred", "n_gold"):
        assert sum(r["systems"]["A"][key] for r in rows) == total[key]
    assert all(r["systems"]["B"]["f1"] in (1.0, None) for r in rows)
    if by != "distance":
        assert sum(r["support"] for r in rows) == len(gold)


@FAST
@given(corpora())
def test_scores_are_fractions_and_order_free(data: tuple[list[Sentence], list[Sentence]]) -> None:
    gold, pred = data
    scores = metrics.score(gold, pred)
    assert scores == metrics.score(gold, pred[::-1])
    for conv in metrics.CONVENTIONS:
        micro = scores[conv]["micro"]
        assert all(0.0 <= micro[m] <= 1.0 for m in ("precision", "recall", "f1"))
        assert (
            min(micro["precision"], micro["recall"])
            <= micro["f1"]
            <= max(micro["precision"], micro["recall"])
        )
