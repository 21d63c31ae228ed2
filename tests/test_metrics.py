"""Hand-worked cases pinning every number enpar.metrics reports."""

from __future__ import annotations

import json

import pytest

from enpar import metrics
from enpar.breakdown import bucket_label, pair_distance, resolve_edges
from enpar.report_text import format_report
from enpar.schema import DataError, Entity, Relation, Sentence
from enpar.significance import Resampler, approximate_randomization, prf, quantile


def sent(
    sid: str,
    n_tokens: int,
    entities: list[tuple[int, int, str]],
    relations: list[tuple[int, int, int, int, str]] = (),
) -> Sentence:
    """Relations name their arguments by span; the entity labels come from `entities`."""
    ents = {(s, e): Entity(s, e, label) for s, e, label in entities}
    rels = tuple(Relation(ents[hs, he], ents[ts, te], label) for hs, he, ts, te, label in relations)
    return Sentence(sid, tuple(f"w{i}" for i in range(n_tokens)), tuple(ents.values()), rels)


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-12)


# Sentence 1: a wrong entity type, a reversed relation, a spurious entity and relation.
GOLD_1 = sent(
    "s1", 10, [(0, 1, "PER"), (3, 5, "ORG"), (7, 8, "LOC")], [(0, 1, 3, 5, "WORK"), (3, 5, 7, 8, "IN")]
)
PRED_1 = sent(
    "s1",
    10,
    [(0, 1, "PER"), (3, 5, "LOC"), (7, 8, "LOC"), (9, 10, "PER")],
    [(0, 1, 3, 5, "WORK"), (7, 8, 3, 5, "IN"), (0, 1, 9, 10, "WORK")],
)

# Sentence 2: correct, wrong type (reversed pair), boundary error, missed entity, missed although found.
GOLD_2 = sent(
    "s2",
    14,
    [(0, 2, "M"), (4, 5, "T"), (6, 7, "M"), (8, 9, "T"), (10, 12, "X")],
    [
        (0, 2, 4, 5, "USED"),
        (6, 7, 8, 9, "USED"),
        (10, 12, 4, 5, "FEAT"),
        (0, 2, 10, 12, "CONJ"),
        (4, 5, 8, 9, "CMP"),
    ],
)
PRED_2 = sent(
    "s2",
    14,
    [(0, 2, "M"), (4, 5, "T"), (6, 7, "M"), (8, 9, "T"), (10, 11, "X")],
    [(0, 2, 4, 5, "USED"), (8, 9, 6, 7, "PART"), (10, 11, 4, 5, "FEAT")],
)


# ---------------------------------------------------------------------------- scores


def test_micro_scores_per_convention() -> None:
    s = metrics.score([GOLD_1], [PRED_1])
    assert set(s) == {"entity", "relation", "relation_strict"}
    ent = s["entity"]["micro"]
    assert (ent["tp"], ent["n_pred"], ent["n_gold"]) == (2, 4, 3)
    assert (ent["precision"], ent["recall"], ent["f1"]) == (approx(0.5), approx(2 / 3), approx(4 / 7))
    rel = s["relation"]["micro"]  # WORK A->B matches by boundaries; the reversed IN does not
    assert (rel["tp"], rel["n_pred"], rel["n_gold"]) == (1, 3, 2)
    assert (rel["precision"], rel["recall"], rel["f1"]) == (approx(1 / 3), approx(0.5), approx(0.4))
    strict = s["relation_strict"]["micro"]  # B is LOC, not ORG
    assert (strict["tp"], strict["n_pred"], strict["n_gold"], strict["f1"]) == (0, 3, 2, 0.0)


def test_per_type_and_macro() -> None:
    s = metrics.score([GOLD_1], [PRED_1])
    per_type = s["entity"]["per_type"]
    assert list(per_type) == ["LOC", "ORG", "PER"]
    assert {t: (e["tp"], e["n_pred"], e["n_gold"]) for t, e in per_type.items()} == {
        "LOC": (1, 2, 1),
        "ORG": (0, 0, 1),
        "PER": (1, 2, 1),
    }
    assert per_type["ORG"]["precision"] == 0.0 and per_type["PER"]["f1"] == approx(2 / 3)
    macro = s["entity"]["macro"]  # mean of (0.5, 0, 0.5), (1, 0, 1), (2/3, 0, 2/3)
    assert (macro["precision"], macro["recall"], macro["f1"]) == (approx(1 / 3), approx(2 / 3), approx(4 / 9))
    assert (macro["n_types"], macro["tp"], macro["n_pred"], macro["n_gold"]) == (3, 2, 4, 3)
    rel_types = s["relation"]["per_type"]
    assert (rel_types["WORK"]["n_pred"], rel_types["WORK"]["n_gold"], rel_types["WORK"]["f1"]) == (
        2,
        1,
        approx(2 / 3),
    )
    assert rel_types["IN"]["f1"] == 0.0
    assert s["relation"]["macro"]["f1"] == approx(1 / 3)


def test_macro_counts_types_seen_only_in_predictions() -> None:
    gold = sent("s", 4, [(0, 1, "A")])
    pred = sent("s", 4, [(0, 1, "A"), (2, 3, "B")])
    macro = metrics.score([gold], [pred])["entity"]["macro"]
    assert macro["n_types"] == 2 and macro["f1"] == approx(0.5)  # A: 1.0, B (no gold): 0.0


def test_micro_sums_over_sentences() -> None:
    s = metrics.score([GOLD_1, GOLD_2], [PRED_1, PRED_2])
    rel = s["relation"]["micro"]
    assert (rel["tp"], rel["n_pred"], rel["n_gold"]) == (2, 6, 7)
    assert rel["f1"] == approx(4 / 13)
    assert s["relation_strict"]["micro"]["tp"] == 1


def test_zero_division_convention() -> None:
    empty = sent("s", 3, [])
    one = sent("s", 3, [(0, 1, "A")])
    nothing = metrics.score([empty], [empty])["entity"]
    assert (nothing["micro"]["f1"], nothing["macro"]["f1"], nothing["macro"]["n_types"]) == (1.0, 1.0, 0)
    missed = metrics.score([one], [empty])["entity"]["micro"]
    assert (missed["precision"], missed["recall"], missed["f1"]) == (0.0, 0.0, 0.0)
    spurious = metrics.score([empty], [one])["entity"]["micro"]
    assert (spurious["precision"], spurious["recall"], spurious["f1"]) == (0.0, 0.0, 0.0)
    assert prf(0, 0, 0) == (1.0, 1.0, 1.0) and prf(3, 4, 6) == (0.75, 0.5, 0.6)


def test_duplicate_relations_collapse() -> None:
    gold = sent("s", 4, [(0, 1, "A"), (2, 3, "B")], [(0, 1, 2, 3, "R")])
    doubled = Sentence("s", gold.tokens, gold.entities, gold.relations * 2)
    assert metrics.score([gold], [doubled])["relation"]["micro"]["n_pred"] == 1


# ---------------------------------------------------------------------------- symmetric modes

SYM_GOLD = sent(
    "s",
    12,
    [(0, 1, "P"), (3, 4, "O"), (6, 7, "P"), (9, 10, "O")],
    [(0, 1, 3, 4, "CONJ"), (6, 7, 9, 10, "USED")],
)
SYM_PRED = sent(
    "s",
    12,
    [(0, 1, "P"), (3, 4, "O"), (6, 7, "P"), (9, 10, "O")],
    [(3, 4, 0, 1, "CONJ"), (9, 10, 6, 7, "USED")],
)


@pytest.mark.parametrize(
    ("mode", "labels", "counts"),
    [
        ("directed", {"CONJ"}, (0, 2, 2)),  # the paper: every reversed pair is FP + FN
        ("unordered", {"CONJ"}, (1, 2, 2)),  # CONJ matches in either direction, counted once
        ("doubled", {"CONJ"}, (2, 3, 3)),  # CONJ counted in both directions on both sides
        ("unordered", set(), (0, 2, 2)),  # no symmetric labels: same as directed
        ("doubled", {"USED", "CONJ"}, (4, 4, 4)),
    ],
)
@pytest.mark.parametrize("convention", ["relation", "relation_strict"])
def test_symmetric_modes(mode: str, labels: set[str], counts: tuple[int, int, int], convention: str) -> None:
    micro = metrics.score([SYM_GOLD], [SYM_PRED], symmetric=mode, symmetric_labels=labels)[convention][
        "micro"
    ]
    assert (micro["tp"], micro["n_pred"], micro["n_gold"]) == counts


def test_symmetric_modes_per_type_and_both_directions_in_gold() -> None:
    s = metrics.score([SYM_GOLD], [SYM_PRED], symmetric="doubled", symmetric_labels={"CONJ"})
    conj = s["relation"]["per_type"]["CONJ"]
    assert (conj["tp"], conj["n_pred"], conj["n_gold"]) == (2, 2, 2)
    both = sent("s", 5, [(0, 1, "P"), (3, 4, "O")], [(0, 1, 3, 4, "CONJ"), (3, 4, 0, 1, "CONJ")])
    one = sent("s", 5, [(0, 1, "P"), (3, 4, "O")], [(0, 1, 3, 4, "CONJ")])
    n_gold = {
        mode: metrics.score([both], [one], symmetric=mode, symmetric_labels="CONJ")["relation"]["micro"]
        for mode in metrics.SYMMETRIC_MODES
    }
    assert {m: (c["tp"], c["n_pred"], c["n_gold"]) for m, c in n_gold.items()} == {
        "directed": (1, 1, 2),
        "unordered": (1, 1, 1),
        "doubled": (2, 2, 2),
    }


def test_unordered_strict_keeps_entity_types() -> None:
    pred = sent("s", 12, [(0, 1, "P"), (3, 4, "X"), (6, 7, "P"), (9, 10, "O")], [(3, 4, 0, 1, "CONJ")])
    s = metrics.score([SYM_GOLD], [pred], symmetric="unordered", symmetric_labels={"CONJ"})
    assert s["relation"]["micro"]["tp"] == 1 and s["relation_strict"]["micro"]["tp"] == 0


def test_bad_options_raise() -> None:
    with pytest.raises(ValueError, match="symmetric mode"):
        metrics.score([SYM_GOLD], [SYM_PRED], symmetric="both")
    with pytest.raises(ValueError, match="convention"):
        metrics.score([SYM_GOLD], [SYM_PRED], conventions=["relations"])


# ---------------------------------------------------------------------------- alignment


def test_alignment_by_id_in_any_order() -> None:
    a = metrics.score([GOLD_1, GOLD_2], [PRED_1, PRED_2])
    b = metrics.score([GOLD_1, GOLD_2], [PRED_2, PRED_1])
    assert a == b


@pytest.mark.parametrize(
    ("pred", "message"),
    [
        ([PRED_1], "1 \\('s2'\\) gold sentence ids missing from predictions"),
        ([PRED_1, PRED_2, sent("s3", 2, [])], "'s3'.*not in gold"),
        ([PRED_1, sent("s2", 13, [])], "sentence 's2': tokens differ.*14 tokens.*13 tokens"),
        ([PRED_1, PRED_1, PRED_2], "duplicate sentence id 's1' in predictions"),
    ],
)
def test_alignment_errors(pred: list[Sentence], message: str) -> None:
    with pytest.raises(DataError, match=message):
        metrics.score([GOLD_1, GOLD_2], pred)


def test_token_difference_is_reported_at_its_position() -> None:
    other = Sentence("s1", ("w0", "w1", "x", *GOLD_1.tokens[3:]))
    with pytest.raises(DataError, match="first at token 2"):
        metrics.report([GOLD_1], [other])


# ---------------------------------------------------------------------------- error taxonomy


def test_taxonomy_every_category() -> None:
    tax = metrics.error_taxonomy([GOLD_1, GOLD_2], [PRED_1, PRED_2])
    assert tax["pred"] == {
        "correct": 1,
        "entity_type": 1,
        "reversed": 1,
        "wrong_type": 1,
        "boundary": 1,
        "spurious": 1,
    }
    assert tax["gold"] == {
        "correct": 1,
        "entity_type": 1,
        "reversed": 1,
        "wrong_type": 1,
        "boundary": 1,
        "missed_entity": 1,
        "missed_found": 1,
    }
    assert (tax["n_pred"], tax["n_gold"]) == (6, 7)
    by_relation = {
        (i["side"], i["relation"]["label"], i["relation"]["head"][0], i["relation"]["tail"][0]): i["category"]
        for i in tax["items"]
    }
    assert by_relation == {
        ("pred", "WORK", 0, 3): "entity_type",
        ("pred", "WORK", 0, 9): "spurious",
        ("pred", "IN", 7, 3): "reversed",
        ("pred", "USED", 0, 4): "correct",
        ("pred", "PART", 8, 6): "wrong_type",
        ("pred", "FEAT", 10, 4): "boundary",
        ("gold", "WORK", 0, 3): "entity_type",
        ("gold", "IN", 3, 7): "reversed",
        ("gold", "USED", 0, 4): "correct",
        ("gold", "USED", 6, 8): "wrong_type",
        ("gold", "FEAT", 10, 4): "boundary",
        ("gold", "CONJ", 0, 10): "missed_entity",  # (10, 12) was predicted as (10, 11)
        ("gold", "CMP", 4, 8): "missed_found",
    }
    entity_type = [i for i in tax["items"] if i["side"] == "pred" and i["category"] == "entity_type"]
    assert entity_type == [
        {
            "sentence": "s1",
            "side": "pred",
            "category": "entity_type",
            "relation": {"head": [0, 1, "PER"], "tail": [3, 5, "LOC"], "label": "WORK"},
            "counterpart": {"head": [0, 1, "PER"], "tail": [3, 5, "ORG"], "label": "WORK"},
        }
    ]
    spurious = [i for i in tax["items"] if i["category"] == "spurious"]
    assert spurious[0]["relation"]["tail"] == [9, 10, "PER"] and spurious[0]["counterpart"] is None


def test_taxonomy_matches_scores() -> None:
    gold, pred = [GOLD_1, GOLD_2], [PRED_1, PRED_2]
    tax, s = metrics.error_taxonomy(gold, pred), metrics.score(gold, pred)
    assert tax["pred"]["correct"] == tax["gold"]["correct"] == s["relation_strict"]["micro"]["tp"]
    assert tax["pred"]["correct"] + tax["pred"]["entity_type"] == s["relation"]["micro"]["tp"]
    assert (tax["n_pred"], tax["n_gold"]) == (
        s["relation_strict"]["micro"]["n_pred"],
        s["relation_strict"]["micro"]["n_gold"],
    )


@pytest.mark.parametrize(
    ("pred_relations", "pred_entities", "expected"),
    [
        # reversed, and with a wrong entity type too: reversed
        ([(3, 5, 0, 1, "WORK")], [(0, 1, "PER"), (3, 5, "LOC")], "reversed"),
        # right spans and direction, wrong types on both arguments: entity_type, not reversed / wrong_type
        ([(0, 1, 3, 5, "WORK")], [(0, 1, "ORG"), (3, 5, "LOC")], "entity_type"),
        # same ordered pair, another label: wrong_type
        ([(0, 1, 3, 5, "IN")], [(0, 1, "PER"), (3, 5, "ORG")], "wrong_type"),
        # overlapping arguments, same label and direction: boundary
        ([(0, 2, 3, 4, "WORK")], [(0, 2, "PER"), (3, 4, "ORG")], "boundary"),
        # overlapping but reversed: no category links it, spurious
        ([(3, 4, 0, 2, "WORK")], [(0, 2, "PER"), (3, 4, "ORG")], "spurious"),
    ],
)
def test_taxonomy_precedence(pred_relations: list, pred_entities: list, expected: str) -> None:
    gold = sent("s", 6, [(0, 1, "PER"), (3, 5, "ORG")], [(0, 1, 3, 5, "WORK")])
    pred = sent("s", 6, pred_entities, pred_relations)
    tax = metrics.error_taxonomy([gold], [pred])
    assert tax["pred"][expected] == 1 and sum(tax["pred"].values()) == 1
    # the gold side mirrors every linking category; unlinked gold is missed (entity (0,1) or (3,5) wrong)
    gold_category = "missed_entity" if expected == "spurious" else expected
    assert tax["gold"][gold_category] == 1


def test_taxonomy_precedence_when_several_fit() -> None:
    # Gold has WORK both ways: a predicted A->B WORK with a wrong type is entity_type before reversed.
    gold = sent(
        "s",
        6,
        [(0, 1, "PER"), (3, 5, "ORG"), (3, 4, "ORG")],
        [(0, 1, 3, 5, "WORK"), (3, 5, 0, 1, "WORK"), (0, 1, 3, 4, "IN")],
    )
    pred = sent("s", 6, [(0, 1, "LOC"), (3, 5, "ORG")], [(0, 1, 3, 5, "WORK")])
    assert metrics.error_taxonomy([gold], [pred])["pred"]["entity_type"] == 1
    # Predicted (0,1)->(3,5) IN: gold relates that pair with WORK (wrong_type) and has IN on the overlapping
    # (0,1)->(3,4) (boundary): wrong_type comes first.
    pred = sent("s", 6, [(0, 1, "PER"), (3, 5, "ORG")], [(0, 1, 3, 5, "IN")])
    assert metrics.error_taxonomy([gold], [pred])["pred"]["wrong_type"] == 1


def test_taxonomy_missed_entity_by_type() -> None:
    gold = sent("s", 6, [(0, 1, "PER"), (3, 5, "ORG")], [(0, 1, 3, 5, "WORK")])
    wrong_type = sent("s", 6, [(0, 1, "PER"), (3, 5, "LOC")])
    found = sent("s", 6, [(0, 1, "PER"), (3, 5, "ORG")])
    assert metrics.error_taxonomy([gold], [wrong_type])["gold"]["missed_entity"] == 1
    assert metrics.error_taxonomy([gold], [found])["gold"]["missed_found"] == 1


def test_taxonomy_symmetric_modes() -> None:
    directed = metrics.error_taxonomy([SYM_GOLD], [SYM_PRED], symmetric_labels={"CONJ"})
    assert directed["pred"]["reversed"] == 2 and directed["gold"]["reversed"] == 2
    unordered = metrics.error_taxonomy(
        [SYM_GOLD], [SYM_PRED], symmetric="unordered", symmetric_labels={"CONJ"}
    )
    assert unordered["pred"]["correct"] == 1 and unordered["pred"]["reversed"] == 1
    doubled = metrics.error_taxonomy([SYM_GOLD], [SYM_PRED], symmetric="doubled", symmetric_labels={"CONJ"})
    assert (doubled["n_pred"], doubled["n_gold"], doubled["pred"]["correct"]) == (3, 3, 2)
    assert doubled["symmetric"] == "doubled"


def test_taxonomy_unordered_boundary_across_directions() -> None:
    # Unordered keys sort their arguments by span: gold (0,4)-(1,2), predicted (1,2)-(3,4). Only the crossed
    # comparison overlaps ((1,2) with (1,2), (3,4) with (0,4)), so it is a boundary error only when the
    # direction does not count.
    gold = sent("s", 6, [(0, 4, "B"), (1, 2, "A")], [(1, 2, 0, 4, "CONJ")])
    pred = sent("s", 6, [(1, 2, "A"), (3, 4, "B")], [(3, 4, 1, 2, "CONJ")])
    unordered = metrics.error_taxonomy([gold], [pred], symmetric="unordered", symmetric_labels={"CONJ"})
    assert unordered["pred"]["boundary"] == 1 and unordered["gold"]["boundary"] == 1
    directed = metrics.error_taxonomy([gold], [pred], symmetric_labels={"CONJ"})
    assert directed["pred"]["spurious"] == 1 and directed["gold"]["missed_entity"] == 1


# ---------------------------------------------------------------------------- breakdowns


def test_pair_distance_and_bucket_labels() -> None:
    assert pair_distance((0, 1), (1, 2)) == 1  # adjacent
    assert pair_distance((3, 4), (1, 2)) == 2  # one word between, either order
    assert pair_distance((10, 14), (11, 12)) == -2  # nested
    edges = resolve_edges("distance")
    assert [bucket_label(i, edges) for i in range(-1, len(edges))] == ["<1", "1", "2", "3-4", "5-8", "9+"]
    assert [bucket_label(i, resolve_edges("length")) for i in range(5)] == [
        "1-10",
        "11-20",
        "21-30",
        "31-40",
        "41+",
    ]
    assert [bucket_label(i, resolve_edges("n_entities")) for i in range(6)] == [
        "1-2",
        "3",
        "4",
        "5",
        "6-7",
        "8+",
    ]
    assert [bucket_label(i, resolve_edges("n_relations")) for i in range(5)] == ["1", "2", "3", "4", "5+"]
    for bad in ([], [3, 3], [2, 1], [1.5]):
        with pytest.raises(ValueError, match="edges"):
            resolve_edges("distance", bad)
    with pytest.raises(ValueError, match="unknown breakdown"):
        resolve_edges("width")


DIST_GOLD = sent(
    "d",
    20,
    [(0, 1, "A"), (1, 2, "A"), (3, 4, "A"), (7, 9, "A"), (19, 20, "A")],
    [(0, 1, 1, 2, "R"), (1, 2, 3, 4, "R"), (3, 4, 7, 9, "R"), (19, 20, 0, 1, "R")],
)
DIST_PRED = sent(
    "d",
    20,
    [(0, 1, "A"), (1, 2, "A"), (3, 4, "A"), (7, 9, "A"), (19, 20, "A")],
    [(0, 1, 1, 2, "R"), (1, 2, 3, 4, "S"), (3, 4, 7, 9, "R"), (7, 9, 19, 20, "R")],
)


def test_breakdown_by_distance() -> None:
    rows = metrics.breakdown([DIST_GOLD], {"A": [DIST_PRED], "B": [DIST_GOLD]}, by="distance", n_resamples=20)
    table = {
        r["bucket"]: (
            r["support"],
            r["systems"]["A"]["tp"],
            r["systems"]["A"]["n_pred"],
            r["systems"]["A"]["n_gold"],
            r["systems"]["A"]["f1"],
        )
        for r in rows
    }
    assert table == {
        "1": (1, 1, 1, 1, 1.0),
        "2": (1, 0, 1, 1, 0.0),
        "3-4": (1, 1, 1, 1, 1.0),
        "5-8": (0, 0, 0, 0, None),  # nothing to find, nothing predicted: no score
        "9+": (1, 0, 1, 1, 0.0),  # gold e->a (19) missed; predicted d->e (11) spurious
    }
    assert all(r["unit"] == "gold relations" and not r["underflow"] for r in rows)
    assert [r["systems"]["B"]["f1"] for r in rows] == [1.0, 1.0, 1.0, None, 1.0]
    assert rows[0]["systems"]["B"]["ci"] == [1.0, 1.0] and rows[3]["systems"]["A"]["ci"] is None
    assert (rows[2]["lo"], rows[2]["hi"], rows[4]["lo"], rows[4]["hi"]) == (3, 4, 9, None)


def test_breakdown_distance_underflow_and_custom_edges() -> None:
    nested = sent("n", 16, [(10, 14, "A"), (11, 12, "B")], [(10, 14, 11, 12, "R")])
    rows = metrics.breakdown([nested], {"A": [nested]}, by="distance", n_resamples=0)
    assert rows[0]["bucket"] == "<1" and rows[0]["underflow"] and rows[0]["support"] == 1
    assert rows[0]["systems"]["A"]["ci"] is None
    rows = metrics.breakdown([DIST_GOLD], {"A": [DIST_PRED]}, by="distance", edges=[1, 3], n_resamples=0)
    assert [(r["bucket"], r["support"]) for r in rows] == [("1-2", 2), ("3+", 2)]
    with pytest.raises(ValueError, match="relation convention"):
        metrics.breakdown([DIST_GOLD], {"A": [DIST_PRED]}, by="distance", convention="entity")


def _sentences_of_length(lengths: list[int]) -> list[Sentence]:
    return [
        sent(
            f"l{i}",
            n,
            [(0, 1, "A"), (n - 1, n, "B")] if n > 1 else [(0, 1, "A")],
            [(0, 1, n - 1, n, "R")] if n > 1 else [],
        )
        for i, n in enumerate(lengths)
    ]


def test_breakdown_by_length_and_entities() -> None:
    gold = _sentences_of_length([5, 10, 11, 45, 1])
    pred = [s.with_predictions(s.entities, ()) for s in gold]
    rows = metrics.breakdown(gold, {"A": pred}, by="length", n_resamples=0)
    assert [(r["bucket"], r["support"]) for r in rows] == [
        ("1-10", 3),
        ("11-20", 1),
        ("21-30", 0),
        ("31-40", 0),
        ("41+", 1),
    ]
    assert all(r["unit"] == "sentences" for r in rows)
    assert rows[0]["systems"]["A"]["n_gold"] == 2 and rows[0]["systems"]["A"]["recall"] == 0.0
    rows = metrics.breakdown(gold, {"A": pred}, by="n_entities", convention="entity", n_resamples=0)
    assert [(r["bucket"], r["support"]) for r in rows][:2] == [("1-2", 5), ("3", 0)]
    assert rows[0]["systems"]["A"]["f1"] == 1.0


def test_breakdown_by_relations_has_a_zero_row() -> None:
    no_rel = sent("z", 4, [(0, 1, "A"), (2, 3, "A")])
    spurious = sent("z", 4, [(0, 1, "A"), (2, 3, "A")], [(0, 1, 2, 3, "R")])
    gold, pred = [no_rel, GOLD_2], [spurious, PRED_2]
    rows = metrics.breakdown(gold, {"A": pred}, by="n_relations", n_resamples=0)
    assert [(r["bucket"], r["support"]) for r in rows] == [
        ("<1", 1),
        ("1", 0),
        ("2", 0),
        ("3", 0),
        ("4", 0),
        ("5+", 1),
    ]
    zero = rows[0]["systems"]["A"]
    assert zero["n_pred"] == 1 and zero["n_gold"] == 0 and zero["precision"] == 0.0
    # Without predictions there, the zero row is still kept: it has support.
    rows = metrics.breakdown(gold, {"A": [no_rel, PRED_2]}, by="n_relations", n_resamples=0)
    assert rows[0]["bucket"] == "<1" and rows[0]["systems"]["A"]["f1"] is None


def test_breakdown_buckets_add_up_to_totals() -> None:
    gold, pred = [GOLD_1, GOLD_2, DIST_GOLD], [PRED_1, PRED_2, DIST_PRED]
    total = metrics.score(gold, pred)["relation"]["micro"]
    for by in metrics.BREAKDOWNS:
        rows = metrics.breakdown(gold, {"A": pred}, by=by, convention="relation", n_resamples=0)
        for key in ("tp", "n_pred", "n_gold"):
            assert sum(r["systems"]["A"][key] for r in rows) == total[key], (by, key)


# ---------------------------------------------------------------------------- uncertainty


def _many(n: int) -> tuple[list[Sentence], list[Sentence]]:
    """n copies of GOLD_1/PRED_1 and GOLD_2/PRED_2 under distinct ids."""
    gold, pred = [], []
    for i in range(n):
        for g, p in ((GOLD_1, PRED_1), (GOLD_2, PRED_2)):
            gold.append(Sentence(f"{g.id}-{i}", g.tokens, g.entities, g.relations))
            pred.append(Sentence(f"{g.id}-{i}", p.tokens, p.entities, p.relations))
    return gold, pred


def test_quantile_and_resampler() -> None:
    assert quantile([0.0, 1.0, 2.0, 3.0], 0.5) == 1.5 and quantile([0.0, 1.0, 2.0, 3.0], 0.25) == 0.75
    r = Resampler(7, n_resamples=50, seed=3)
    assert all(sum(w) == 7 and len(w) == 7 for w in r.weights)
    assert r.weights == Resampler(7, n_resamples=50, seed=3).weights
    assert r.weights != Resampler(7, n_resamples=50, seed=4).weights
    sums = r.sums([(1, 1, 1)] * 7)
    assert sums == [(7, 7, 7)] * 50
    with pytest.raises(ValueError):
        Resampler(3, n_resamples=0)
    # Resamples that miss the only sentence with anything to score are skipped, not counted as perfect.
    sparse = [(1, 2, 2)] + [(0, 0, 0)] * 19
    assert Resampler(20, n_resamples=200).ci(sparse)["f1"] == [0.5, 0.5]


def test_bootstrap_ci_sanity() -> None:
    gold, pred = _many(10)
    perfect = metrics.bootstrap_ci(gold, gold, n_resamples=200)
    assert perfect["ci"] == {"precision": [1.0, 1.0], "recall": [1.0, 1.0], "f1": [1.0, 1.0]}
    ci = metrics.bootstrap_ci(gold, pred, convention="relation", n_resamples=300, seed=1)
    assert ci["f1"] == approx(4 / 13) and ci["convention"] == "relation" and ci["average"] == "micro"
    lo, hi = ci["ci"]["f1"]
    assert 0.0 < lo < ci["f1"] < hi < 1.0
    assert ci == metrics.bootstrap_ci(gold, pred, convention="relation", n_resamples=300, seed=1)
    wider = metrics.bootstrap_ci(*_many(2), convention="relation", n_resamples=300, seed=1)["ci"]["f1"]
    assert wider[1] - wider[0] > hi - lo  # fewer sentences, less certainty


def test_paired_test_identical_systems() -> None:
    gold, pred = _many(5)
    for method in ("randomization", "bootstrap"):
        t = metrics.paired_test(gold, pred, pred, convention="relation", method=method, n_resamples=100)
        assert t["delta"] == 0.0 and t["p_value"] == 1.0 and t["delta_ci"] == [0.0, 0.0]
        assert t["convention"] == "relation" and t["method"].startswith(("approximate", "paired bootstrap"))


def test_paired_test_clear_difference() -> None:
    gold = [sent(f"s{i}", 4, [(0, 1, "A"), (2, 3, "B")], [(0, 1, 2, 3, "R")]) for i in range(30)]
    empty = [s.with_predictions(s.entities, ()) for s in gold]
    for method in ("randomization", "bootstrap"):
        t = metrics.paired_test(gold, gold, empty, method=method, n_resamples=200)
        assert t["delta"] == 1.0 and t["p_value"] == approx(1 / 201)
        assert (t["value_a"], t["value_b"]) == (1.0, 0.0)
        back = metrics.paired_test(gold, empty, gold, method=method, n_resamples=200)
        assert back["delta"] == -1.0 and back["p_value"] == t["p_value"]


def test_approximate_randomization_exact_value() -> None:
    # Two sentences, A right on both, B on neither: of the 4 swap patterns, 2 keep |delta| = 1 -> p = 0.5.
    counts_a, counts_b = [(1, 1, 1), (1, 1, 1)], [(0, 0, 1), (0, 0, 1)]
    t = approximate_randomization(counts_a, counts_b, n_trials=4000, seed=0)
    assert t["delta"] == 1.0 and abs(t["p_value"] - 0.5) < 0.04


# ---------------------------------------------------------------------------- report


def test_report_structure_and_json() -> None:
    gold, pred = _many(3)
    rep = metrics.report(
        gold, pred, vs=gold, names=("sys", "oracle"), n_bootstrap=50, symmetric_labels={"CONJ"}
    )
    assert json.loads(json.dumps(rep)) == rep
    assert set(rep) == {"format", "settings", "conventions", "gold", "systems", "breakdowns", "paired_test"}
    assert list(rep["systems"]) == ["sys", "oracle"]
    assert rep["gold"] == {"n_sentences": 6, "n_tokens": 72, "n_entities": 24, "n_relations": 21}
    scores = rep["systems"]["sys"]["scores"]
    assert scores["relation"]["micro"]["f1"] == approx(4 / 13)
    assert set(scores["relation"]["micro"]["ci"]) == {"precision", "recall", "f1"}
    assert rep["systems"]["oracle"]["scores"]["entity"]["micro"]["ci"]["f1"] == [1.0, 1.0]
    assert rep["systems"]["sys"]["taxonomy"]["pred"]["spurious"] == 3
    assert set(rep["breakdowns"]) == set(metrics.BREAKDOWNS)
    assert rep["breakdowns"]["length"]["edges"] == [1, 11, 21, 31, 41]
    assert rep["breakdowns"]["distance"]["convention"] == "relation_strict"
    assert set(rep["paired_test"]) == set(metrics.CONVENTIONS)
    test = rep["paired_test"]["relation"]
    assert (test["a"], test["b"], test["value_b"]) == ("sys", "oracle", 1.0) and test["delta"] < 0
    assert rep["settings"]["symmetric_labels"] == ["CONJ"] and rep["settings"]["n_bootstrap"] == 50


def test_report_options() -> None:
    gold, pred = _many(2)
    rep = metrics.report(
        gold, pred, n_bootstrap=0, edges={"distance": [1, 5]}, items=False, breakdown_convention="entity"
    )
    assert rep["paired_test"] is None
    assert rep["systems"]["A"]["scores"]["entity"]["micro"]["ci"] is None
    assert rep["systems"]["A"]["taxonomy"]["items"] == []
    assert [r["bucket"] for r in rep["breakdowns"]["distance"]["rows"]] == ["1-4", "5+"]
    assert rep["breakdowns"]["distance"]["convention"] == "relation_strict"  # entities have no distance
    assert rep["breakdowns"]["length"]["convention"] == "entity"
    no_ci = metrics.report(gold, pred, vs=gold, n_bootstrap=0)["paired_test"]["entity"]
    assert no_ci["p_value"] is None and no_ci["delta"] < 0
    with_ci = metrics.report(gold, pred, vs=gold, n_bootstrap=5)["paired_test"]["entity"]
    assert set(no_ci) == set(with_ci)  # the same shape either way
    for bad in (
        {"names": ("A", "A"), "vs": gold},
        {"edges": {"width": [1]}},
        {"test": "t-test"},
        {"n_bootstrap": -1},
    ):
        with pytest.raises(ValueError):
            metrics.report(gold, pred, **bad)


def test_format_report() -> None:
    gold, pred = _many(1)
    text = format_report(metrics.report(gold, pred, vs=gold, names=("mine", "gold"), n_bootstrap=30))
    for needle in (
        "== Overall",
        "== Per type: entity ==",
        "== Per type: relation_strict ==",
        "== Breakdown by distance (relation_strict; support = gold relations) ==",
        "== Breakdown by n_relations",
        "== Paired test on F1",
        "approximate randomisation",
        "== Relation error taxonomy",
        "missed_found",
        "F1 mine",
        "F1 gold",
    ):
        assert needle in text, needle
    line = next(x for x in text.splitlines() if x.startswith("mine") and " relation " in x)
    assert line.split()[2:5] == ["33.3", "28.6", "30.8"]  # P 2/6, R 2/7, F1 4/13
    single = format_report(metrics.report(gold, pred, n_bootstrap=0))
    assert "Paired test" not in single and "not computed" in single


@pytest.mark.integration
def test_scierc_test_set_report(shared_data) -> None:
    # Speed is measured in benchmarks/bench_metrics.py, not here.
    from enpar.readers import read_dataset

    gold = read_dataset(shared_data / "scierc" / "test.json")
    assert metrics.score(gold, gold)["relation_strict"]["micro"]["n_gold"] == 974
    perturbed = [s.with_predictions(s.entities[1:], s.relations[1:]) for s in gold]
    rep = metrics.report(gold, perturbed, vs=gold, n_bootstrap=1000)
    assert rep["systems"]["B"]["scores"]["relation_strict"]["micro"]["f1"] == 1.0
    assert rep["paired_test"]["relation_strict"]["p_value"] < 0.01
