"""Records and the canonical JSON-lines format (enpar.schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enpar.schema import (
    DataError,
    Entity,
    Relation,
    Sentence,
    iter_jsonl,
    read_jsonl,
    sentence_from_json,
    write_jsonl,
)

LABELS = st.sampled_from(["PER", "ORG", "LOC", "Method"])
REL_LABELS = st.sampled_from(["WORK-FOR", "USED-FOR", "COMPARE"])


@st.composite
def sentences(draw: st.DrawFn) -> Sentence:
    """Random valid sentences: unique span -> label, relations between existing entities."""
    n = draw(st.integers(1, 8))
    tokens = draw(st.lists(st.text(min_size=1, max_size=5), min_size=n, max_size=n))
    spans = draw(
        st.sets(st.tuples(st.integers(0, n - 1), st.integers(1, n)).filter(lambda p: p[0] < p[1]), max_size=5)
    )
    entities = [Entity(s, e, draw(LABELS)) for s, e in sorted(spans)]
    relations = []
    if entities:
        pairs = st.tuples(st.sampled_from(entities), st.sampled_from(entities), REL_LABELS)
        relations = [Relation(h, t, lab) for h, t, lab in draw(st.lists(pairs, max_size=4))]
    meta = draw(st.dictionaries(st.sampled_from(["source", "score"]), st.integers(0, 9), max_size=2))
    return Sentence(
        draw(st.text(min_size=1, max_size=6)),
        tuple(tokens),
        tuple(entities),
        tuple(relations),
        draw(st.text(max_size=4)),
        meta,
    )


def test_records_are_hashable_and_compare_as_sets() -> None:
    a, b = Entity(0, 2, "PER"), Entity(3, 4, "ORG")
    assert {a, Entity(0, 2, "PER")} == {a}
    assert Entity(0, 2, "PER") != Entity(0, 2, "ORG")
    r = Relation(a, b, "WORK-FOR")
    assert r == Relation(Entity(0, 2, "PER"), Entity(3, 4, "ORG"), "WORK-FOR")
    assert r != Relation(b, a, "WORK-FOR")  # direction matters
    s1 = Sentence("s", ("a", "b", "c", "d"), (a, b), (r,), "d", {"x": 1})
    s2 = Sentence("s", ("a", "b", "c", "d"), (a, b), (r,), "d", {"x": 2})
    assert s1 == s2 and hash(s1) == hash(s2)  # meta is not part of identity
    with pytest.raises(AttributeError):
        a.start = 1  # type: ignore[misc]
    assert a.span == (0, 2) and a.text(["New", "York", "is", "big"]) == "New York"
    assert len(s1) == 4


def test_with_predictions_keeps_identity_and_deduplicates() -> None:
    gold = Sentence("s1", ("a", "b", "c"), (Entity(0, 1, "X"),), (), "doc", {"k": "v"})
    e2, e1 = Entity(2, 3, "Y"), Entity(0, 1, "X")
    pred = gold.with_predictions([e2, e1, e2], [Relation(e1, e2, "R"), Relation(e1, e2, "R")])
    assert (pred.id, pred.tokens, pred.doc_id, pred.meta) == (gold.id, gold.tokens, gold.doc_id, gold.meta)
    assert pred.entities == (e1, e2)
    assert pred.relations == (Relation(e1, e2, "R"),)
    assert pred.meta is not gold.meta


def test_to_json_layout() -> None:
    a, b = Entity(0, 1, "PER"), Entity(2, 4, "ORG")
    sent = Sentence("x-1", ("Al", "at", "Acme", "Corp"), (a, b), (Relation(a, b, "WORK-FOR"),), "x")
    assert sent.to_json() == {
        "id": "x-1",
        "doc_id": "x",
        "tokens": ["Al", "at", "Acme", "Corp"],
        "entities": [[0, 1, "PER"], [2, 4, "ORG"]],
        "relations": [[0, 1, 2, 4, "WORK-FOR"]],
    }
    assert "meta" not in sent.to_json()


@settings(max_examples=60, deadline=None)
@given(sentences())
def test_json_round_trip(sent: Sentence) -> None:
    back = sentence_from_json(json.loads(json.dumps(sent.to_json())))
    assert back == sent
    assert back.meta == sent.meta


def test_jsonl_round_trip_and_blank_lines(tmp_path: Path) -> None:
    a, b = Entity(0, 1, "PER"), Entity(1, 3, "ORG")
    sents = [
        Sentence("1", ("x", "y", "z"), (a, b), (Relation(b, a, "R"),), "d", {"n": 1}),
        Sentence("2", ("only",), (), (), ""),
    ]
    out = tmp_path / "sub" / "gold.jsonl"
    assert write_jsonl(sents, out) == 2
    with out.open("a", encoding="utf-8") as fh:
        fh.write("\n   \n")
    assert read_jsonl(out) == sents
    assert read_jsonl(out)[0].meta == {"n": 1}


def test_unified_record_without_ids_gets_default_id(tmp_path: Path) -> None:
    path = tmp_path / "conll.jsonl"
    path.write_text('\n{"tokens": ["a"], "entities": [[0, 1, "X"]], "relations": []}\n', encoding="utf-8")
    (sent,) = list(iter_jsonl(path))
    assert sent.id == "conll-2" and sent.doc_id == ""


def test_invalid_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"tokens": ["a"]}\n{"tokens": [\n', encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_jsonl(path)
    assert info.value.line == 2 and str(path) in str(info.value) and "invalid JSON" in str(info.value)


GOOD = {"tokens": ["a", "b", "c"], "entities": [[0, 1, "X"], [1, 3, "Y"]], "relations": [[0, 1, 1, 3, "R"]]}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"tokens": "a b c"}, "tokens", "list of strings"),
        ({"tokens": []}, "tokens", "at least one token"),
        ({"entities": [[0, 4, "X"]], "relations": []}, "entities[0]", "out of range"),
        ({"entities": [[-1, 1, "X"]], "relations": []}, "entities[0]", "out of range"),
        ({"entities": [[2, 2, "X"]], "relations": []}, "entities[0]", "out of range"),
        ({"entities": [[0, True, "X"]], "relations": []}, "entities[0]", "integer offsets"),
        ({"entities": [[0, 1]], "relations": []}, "entities[0]", "[start, end, label]"),
        ({"entities": "0 1 X"}, "entities", "expected a list"),
        ({"entities": [[0, 1, "X"], [0, 1, "Y"]], "relations": []}, "entities[1]", "two labels"),
        ({"relations": [[0, 1, 0, 2, "R"]]}, "relations[0]", "tail argument [0, 2]"),
        ({"relations": [[0, 1, 1, 3]]}, "relations[0]", "head_start"),
        ({"relations": [[0, 1, 1, 9, "R"]]}, "relations[0]", "out of range"),
        ({"meta": [1]}, "meta", "expected an object"),
        ({"id": {"a": 1}}, "id", "expected a string"),
    ],
)
def test_validation_errors(change: dict, field: str, words: str) -> None:
    with pytest.raises(DataError) as info:
        sentence_from_json({**GOOD, **change}, path="f.jsonl", line=7)
    err = info.value
    assert (err.field, err.line) == (field, 7)
    assert words in str(err) and str(err).startswith("f.jsonl:7: field")


def test_unknown_keys_and_non_objects_are_rejected() -> None:
    with pytest.raises(DataError, match=r"unknown keys \['sentText'\]"):
        sentence_from_json({**GOOD, "sentText": "a b c"})
    with pytest.raises(DataError, match="expected a JSON object"):
        sentence_from_json([GOOD])


def test_same_entity_twice_is_kept_not_an_error() -> None:
    sent = sentence_from_json({"tokens": ["a"], "entities": [[0, 1, "X"], [0, 1, "X"]]})
    assert len(sent.entities) == 2 and len(set(sent.entities)) == 1


def test_data_error_message_parts() -> None:
    assert str(DataError("boom")) == "boom"
    assert str(DataError("boom", path="p", line=3, field="f")) == "p:3: field 'f': boom"
    err = DataError("boom", path=Path("p"), field="f")
    assert (str(err), err.reason, err.line) == ("p: field 'f': boom", "boom", None)
