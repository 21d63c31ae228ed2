"""The document type vote: one type per mention string and document, spans and relation labels untouched;
and the decoding file that switches it (enpar.decoding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enpar.decoding import DECODING_FILE, Decoding, parse_on_off, read_decoding, write_decoding
from enpar.document_vote import vote_document_types
from enpar.schema import Entity, InputError, Relation, Sentence

TYPES = ("Method", "Task")


def _sent(sid: str, doc: str, text: str) -> Sentence:
    return Sentence(sid, tuple(text.split()), doc_id=doc)


def test_mentions_of_one_string_in_one_document_share_the_mean_argmax() -> None:
    s1, s2 = _sent("a1", "A", "the Parser helps tagging"), _sent("a2", "A", "a parser fails")
    s3 = _sent("b1", "B", "the parser helps")  # another document: votes alone
    p1, t1 = Entity(1, 2, "Method"), Entity(3, 4, "Task")
    p2, p3 = Entity(1, 2, "Task"), Entity(1, 2, "Task")
    preds = [([p1, t1], [Relation(p1, t1, "USED-FOR")]), ([p2], []), ([p3], [])]
    probs = [[[0.9, 0.1], [0.2, 0.8]], [[0.4, 0.6]], [[0.45, 0.55]]]
    voted = vote_document_types([s1, s2, s3], preds, probs, TYPES)
    # "Parser" / "parser" in A: mean (0.65, 0.35) -> Method for both; B keeps its own Task
    assert voted[0][0] == [Entity(1, 2, "Method"), t1]
    assert voted[1][0] == [Entity(1, 2, "Method")]
    assert voted[2][0] == [p3]
    assert voted[0][1] == [Relation(Entity(1, 2, "Method"), t1, "USED-FOR")]
    # a relation whose argument changes type carries the new type
    flipped = vote_document_types(
        [s1, s2], [preds[0], ([Entity(1, 2, "Task")], [])], [[[0.1, 0.9], [0.2, 0.8]], [[0.0, 1.0]]], TYPES
    )
    assert flipped[0][1] == [Relation(Entity(1, 2, "Task"), t1, "USED-FOR")]


def test_sentences_without_a_document_vote_alone() -> None:
    s1, s2 = _sent("x", "", "parser and parser"), _sent("y", "", "parser")
    e1, e2, e3 = Entity(0, 1, "Method"), Entity(2, 3, "Task"), Entity(0, 1, "Task")
    voted = vote_document_types(
        [s1, s2], [([e1, e2], []), ([e3], [])], [[[0.7, 0.3], [0.4, 0.6]], [[0.1, 0.9]]], TYPES
    )
    assert voted[0][0] == [Entity(0, 1, "Method"), Entity(2, 3, "Method")]  # within x: mean 0.55 Method
    assert voted[1][0] == [e3]  # y is not x's document


def test_misaligned_inputs_are_refused() -> None:
    s = _sent("x", "A", "parser")
    e = Entity(0, 1, "Method")
    with pytest.raises(ValueError, match="aligned"):
        vote_document_types([s], [([e], [])], [], TYPES)
    with pytest.raises(ValueError, match="1 entities, 0 type distributions"):
        vote_document_types([s], [([e], [])], [[]], TYPES)
    with pytest.raises(ValueError, match="3 type probabilities"):
        vote_document_types([s], [([e], [])], [[[0.2, 0.3, 0.5]]], TYPES)


def test_on_off_values() -> None:
    assert parse_on_off("on") is True
    assert parse_on_off("False") is False
    assert parse_on_off(True) is True
    with pytest.raises(ValueError, match="on or off"):
        parse_on_off("maybe")


def test_decoding_file_beside_the_checkpoint(tmp_path: Path) -> None:
    """decoding.json wins; without it an old config.json's model.document_type_vote; else the default."""
    assert read_decoding(tmp_path) == Decoding()
    (tmp_path / "config.json").write_text(json.dumps({"model": {"document_type_vote": True}}))
    assert read_decoding(tmp_path).document_type_vote is True  # a checkpoint from before decoding.json
    write_decoding(tmp_path, Decoding(document_type_vote=False))
    assert read_decoding(tmp_path) == Decoding(document_type_vote=False)
    assert read_decoding(tmp_path).with_overrides(document_type_vote=True).document_type_vote is True
    assert read_decoding(tmp_path).with_overrides(document_type_vote=None) == Decoding()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"document_type_vote": "yes"}', "document_type_vote must be true or false"),
        ('{"tag_decoder": "viterbi"}', "unknown decoding settings"),
        ("[1]", "expected a JSON object"),
        ("{", "not valid JSON"),
    ],
)
def test_bad_decoding_file_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / DECODING_FILE).write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_decoding(tmp_path)
    assert DECODING_FILE in str(info.value)


def test_cli_option(capsys: pytest.CaptureFixture[str]) -> None:
    from enpar.cli import build_parser
    from enpar.commands._common import decoding_overrides

    parser = build_parser()
    args = parser.parse_args(["evaluate", "ckpt", "data.json", "--out", "o", "--document-type-vote", "on"])
    assert decoding_overrides(args)["document_type_vote"] is True
    args = parser.parse_args(["predict", "ckpt", "some text"])
    assert decoding_overrides(args)["document_type_vote"] is None  # the checkpoint's decoding.json
    with pytest.raises(SystemExit):
        parser.parse_args(["predict", "ckpt", "x", "--document-type-vote", "maybe"])
    assert "expected on or off, got 'maybe'" in capsys.readouterr().err
