"""Dataset readers, format detection, overlap reports and dataset metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enpar import datasets
from enpar.readers import detect_format, duplicates, iter_records, overlaps, parse_dataset, read_dataset
from enpar.schema import DataError, Entity, Relation, Sentence, read_jsonl, write_jsonl

E = Entity


def rel(h: Entity, t: Entity, label: str) -> Relation:
    return Relation(h, t, label)


# ------------------------------------------------------------------------------ fixtures per format


def test_dygie_fixture_converts_document_offsets(fixtures_dir: Path) -> None:
    sents = read_dataset(fixtures_dir / "dygie_small.json")
    assert [s.id for s in sents] == ["D1:0", "D1:1", "D2:0"]
    assert [s.doc_id for s in sents] == ["D1", "D1", "D2"]
    alice, acme = E(0, 1, "PER"), E(3, 5, "ORG")
    assert sents[0].entities == (alice, acme)
    assert sents[0].relations == (rel(alice, acme, "WORK-FOR"),)
    bob, univ, ny = E(0, 2, "PER"), E(4, 9, "ORG"), E(7, 9, "LOC")
    assert sents[1].tokens[4:9] == ("the", "University", "of", "New", "York")
    assert sents[1].entities == (bob, univ, ny)
    assert sents[1].relations == (rel(bob, univ, "STUDIED-AT"), rel(univ, ny, "LOCATED-IN"))
    assert sents[2].entities == () and sents[2].tokens == ("Nothing", "here", ".")


def test_nere_fixture_keeps_both_directions_and_nesting(fixtures_dir: Path) -> None:
    sents = read_dataset(fixtures_dir / "nere_small.jsonl")
    assert [s.id for s in sents] == ["A1:0", "A1:1"] and {s.doc_id for s in sents} == {"A1"}
    alice, bob, paris = E(0, 1, "PER"), E(2, 3, "PER"), E(4, 5, "GPE")
    assert sents[0].tokens == ("Alice", "met", "Bob", "in", "Paris", ".")
    assert sents[0].relations == (
        rel(alice, bob, "PER-SOC"),
        rel(bob, alice, "PER-SOC"),
        rel(bob, paris, "PHYS"),
    )
    assert sents[1].entities == (E(0, 4, "ORG"), E(1, 3, "GPE"))
    assert [o.kind for o in overlaps(sents)] == ["nested"]


def test_unified_array_and_lines(fixtures_dir: Path) -> None:
    arr = read_dataset(fixtures_dir / "unified_small.json")
    assert [s.id for s in arr] == ["unified_small-1", "unified_small-2"]
    john, boston = E(0, 2, "Peop"), E(4, 5, "Loc")
    assert arr[0].relations == (rel(john, boston, "Live_In"),)
    assert [line for line, _ in iter_records(fixtures_dir / "unified_small.json")] == [2, 5]
    lines = read_dataset(fixtures_dir / "unified_small.jsonl")
    assert [s.id for s in lines] == ["dev-0", "dev-1"]
    assert lines == read_jsonl(fixtures_dir / "unified_small.jsonl")  # canonical reader == schema reader


def test_spert_matches_unified(fixtures_dir: Path) -> None:
    spert = read_dataset(fixtures_dir / "spert_small.json")
    unified = read_dataset(fixtures_dir / "unified_small.json")
    for a, b in zip(spert, unified, strict=True):
        assert (a.tokens, a.entities, a.relations) == (b.tokens, b.entities, b.relations)
    assert spert[0].meta == {"orig_id": 2447}


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("dygie_small.json", "dygie"),
        ("nere_small.jsonl", "nere"),
        ("unified_small.json", "canonical"),
        ("unified_small.jsonl", "canonical"),
        ("spert_small.json", "spert"),
    ],
)
def test_detect_format(fixtures_dir: Path, name: str, fmt: str) -> None:
    assert detect_format(fixtures_dir / name) == fmt
    assert read_dataset(fixtures_dir / name, format=fmt) == read_dataset(fixtures_dir / name)


def test_format_aliases_and_wrong_format(fixtures_dir: Path) -> None:
    path = fixtures_dir / "unified_small.jsonl"
    assert read_dataset(path, format="nyt") == read_dataset(path, format="unified") == read_dataset(path)
    with pytest.raises(DataError, match="unknown keys"):
        read_dataset(fixtures_dir / "dygie_small.json", format="canonical")
    with pytest.raises(ValueError, match="unknown format"):
        read_dataset(path, format="conllu")


def test_empty_file_is_empty_dataset(tmp_path: Path) -> None:
    for text in ("", "\n\n", "[]", " [ ]\n"):
        (tmp_path / "e.json").write_text(text, encoding="utf-8")
        assert read_dataset(tmp_path / "e.json") == []


# ------------------------------------------------------------------------------ malformed input


@pytest.mark.parametrize(
    ("name", "line", "field", "words"),
    [
        ("bad_dygie_relation.json", 2, "relations[1][0]", "tail argument [5, 5] (document-level)"),
        ("bad_nere_text.jsonl", 2, "entityMentions[0].text", "does not match"),
        ("bad_unified_range.json", 3, "entities[0]", "out of range"),
        ("bad_json.jsonl", 2, None, "invalid JSON"),
    ],
)
def test_malformed_fixtures(fixtures_dir: Path, name: str, line: int, field: str | None, words: str) -> None:
    path = fixtures_dir / name
    with pytest.raises(DataError) as info:
        read_dataset(path)
    err = info.value
    assert (Path(err.path), err.line, err.field) == (path, line, field)
    assert words in str(err) and str(err).startswith(f"{path}:{line}:")


DYGIE = {
    "doc_key": "d",
    "sentences": [["A", "b", "."], ["C", "d", "."]],
    "ner": [[[0, 0, "X"]], [[3, 4, "Y"]]],
    "relations": [[], [[3, 4, 3, 4, "R"]]],
}
NERE = {
    "sentId": 0,
    "sentText": "A b c",
    "entityMentions": [
        {"emId": "E1", "offset": [0, 1], "label": "X"},
        {"emId": "E2", "offset": [1, 3], "label": "Y"},
    ],
    "relationMentions": [{"em1Id": "E1", "em2Id": "E2", "label": "R"}],
}
SPERT = {
    "tokens": ["A", "b"],
    "entities": [{"type": "X", "start": 0, "end": 1}],
    "relations": [{"type": "R", "head": 0, "tail": 0}],
    "orig_id": 1,
}


def _patch(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return json.loads(json.dumps({**base, **changes}))


@pytest.mark.parametrize(
    ("fmt", "record", "field", "words"),
    [
        ("dygie", _patch(DYGIE, ner=[[[0, 0, "X"]]]), "ner", "1 lists for 2 sentences"),
        ("dygie", _patch(DYGIE, ner=[[[2, 3, "X"]], []]), "ner[0][0]", "not inside sentence 0"),
        ("dygie", _patch(DYGIE, ner=[[], [[2, 3, "X"]]]), "ner[1][0]", "covers tokens [3, 5]"),
        ("dygie", _patch(DYGIE, ner=[[], [[4, 3, "X"]]]), "ner[1][0]", "not inside"),
        ("dygie", _patch(DYGIE, ner=[[], [[3, 4]]]), "ner[1][0]", "[start, end, label]"),
        (
            "dygie",
            _patch(DYGIE, relations=[[], [[3, 4, 5, 5, "R"]]]),
            "relations[1][0]",
            "tail argument [5, 5]",
        ),
        (
            "dygie",
            _patch(DYGIE, relations=[[], [[3, 4, 0, 0, "R"]]]),
            "relations[1][0]",
            "not inside sentence 1",
        ),
        ("dygie", _patch(DYGIE, ner=[[[0, 0, "X"], [0, 0, "Z"]], [[3, 4, "Y"]]]), "ner[0][1]", "two labels"),
        ("dygie", _patch(DYGIE, sentences=[["A", "b", "."], []]), "sentences[1]", "at least one token"),
        ("dygie", _patch(DYGIE, predicted_ner=[]), None, "unknown keys ['predicted_ner']"),
        ("dygie", _patch(DYGIE, sentences="A b ."), "sentences", "expected a list"),
        (
            "nere",
            _patch(NERE, relationMentions=[{"em1Id": "E1", "em2Id": "E9", "label": "R"}]),
            "relationMentions[0].em2Id",
            "'E9' is not the emId",
        ),
        (
            "nere",
            _patch(NERE, entityMentions=[{"emId": "E1", "offset": [0, 1], "label": "X"}] * 2),
            "entityMentions[1].emId",
            "duplicate emId",
        ),
        (
            "nere",
            _patch(NERE, entityMentions=[{"emId": "E1", "offset": [0, 4], "label": "X"}]),
            "entityMentions[0].offset",
            "out of range",
        ),
        (
            "nere",
            _patch(NERE, entityMentions=[{"emId": "E1", "offset": [0, 1], "label": "X", "start": 0}]),
            "entityMentions[0]",
            "unknown keys ['start']",
        ),
        (
            "nere",
            _patch(NERE, entityMentions=[{"emId": "E1", "label": "X"}]),
            "entityMentions[0]",
            "'offset'",
        ),
        (
            "nere",
            _patch(NERE, relationMentions=[{"em1Id": "E1", "em2Id": "E2", "em1Text": "b", "label": "R"}]),
            "relationMentions[0].em1Text",
            "does not match entity 'E1'",
        ),
        ("nere", _patch(NERE, sentText="A  b c"), "sentText", "empty word"),
        (
            "nere",
            _patch(NERE, wordpieceTokensIndex=[[1, 2]]),
            "wordpieceTokensIndex",
            "one [start, end) per word",
        ),
        ("nere", _patch(NERE, tokens=["A", "b"]), "sentText", "has 3 words"),
        ("nere", _patch(NERE, relations=[]), None, "unknown keys ['relations']"),
        ("spert", _patch(SPERT, relations=[{"type": "R", "head": 0, "tail": 1}]), "relations[0]", "tail 1"),
        (
            "spert",
            _patch(SPERT, entities=[{"type": "X", "start": 1, "end": 3}], relations=[]),
            "entities[0]",
            "out of range",
        ),
        ("spert", _patch(SPERT, entities=[[0, 1, "X"]], relations=[]), "entities[0]", "'type': str"),
    ],
)
def test_validation_errors(tmp_path: Path, fmt: str, record: dict, field: str | None, words: str) -> None:
    path = tmp_path / "data.jsonl"
    valid = {"dygie": _patch(DYGIE, doc_key="ok"), "nere": _patch(NERE, sentId=1), "spert": SPERT}[fmt]
    path.write_text(json.dumps(valid) + "\n\n" + json.dumps(record) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_dataset(path, format=fmt)
    assert (info.value.line, info.value.field) == (3, field)
    assert words in str(info.value)
    path.write_text(json.dumps(valid) + "\n", encoding="utf-8")
    assert len(read_dataset(path)) >= 1  # the base record itself is valid (and auto-detected)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[{"tokens": ["a"]}\n {"tokens": ["b"]}]', 2, "expected ',' or ']'"),
        ('[{"tokens": ["a"]}]\n\n{"tokens": ["b"]}', 3, "extra data"),
        ('[{"tokens": ["a"]},\n {"tokens": ["b"}]', 2, "invalid JSON"),
        ('[{"tokens": ["a"]},\n {"tokens": ["b"]}', 2, "expected ',' or ']'"),
        ('{"tokens": ["a"]}\n["b"]\n', 2, "expected a JSON object"),
        ('{"text": "a b"}\n', 1, "cannot detect the format"),
        ('{"id": "x", "tokens": ["a"]}\n{"id": "x", "tokens": ["b"]}\n', 2, "duplicate sentence id 'x'"),
    ],
)
def test_structural_errors(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "data.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_dataset(path)
    assert info.value.line == line and words in str(info.value)


def test_not_utf8_and_directory(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('{"tokens": ["caf\u00e9"]}\n'.encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_dataset(path)
    with pytest.raises(DataError, match="directory"):
        read_dataset(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_dataset(tmp_path / "missing.json")


# ------------------------------------------------------------------------------ round trips


@st.composite
def documents(draw: st.DrawFn) -> list[Sentence]:
    """Sentences of one document, with nested/overlapping entities allowed."""
    out = []
    for i in range(draw(st.integers(1, 4))):
        n = draw(st.integers(1, 7))
        tokens = tuple(
            draw(st.lists(st.sampled_from(["a", "B", "c1", "-LRB-", "."]), min_size=n, max_size=n))
        )
        spans = sorted(
            draw(
                st.sets(
                    st.tuples(st.integers(0, n - 1), st.integers(1, n)).filter(lambda p: p[0] < p[1]),
                    max_size=4,
                )
            )
        )
        ents = tuple(E(s, e, draw(st.sampled_from(["X", "Y"]))) for s, e in spans)
        rels: tuple[Relation, ...] = ()
        if ents:
            rels = tuple(
                rel(h, t, lab)
                for h, t, lab in draw(
                    st.lists(
                        st.tuples(st.sampled_from(ents), st.sampled_from(ents), st.sampled_from(["R", "S"])),
                        max_size=3,
                    )
                )
            )
        out.append(Sentence(f"doc:{i}", tokens, ents, rels, "doc"))
    return out


def _to_dygie(doc: list[Sentence]) -> dict[str, Any]:
    """The inverse of the DyGIE reader: document-level, end-inclusive offsets."""
    ner, relations, offset = [], [], 0
    for s in doc:
        ner.append([[e.start + offset, e.end - 1 + offset, e.label] for e in s.entities])
        relations.append(
            [
                [
                    r.head.start + offset,
                    r.head.end - 1 + offset,
                    r.tail.start + offset,
                    r.tail.end - 1 + offset,
                    r.label,
                ]
                for r in s.relations
            ]
        )
        offset += len(s)
    return {"doc_key": "doc", "sentences": [list(s.tokens) for s in doc], "ner": ner, "relations": relations}


def _to_nere(s: Sentence, i: int) -> dict[str, Any]:
    ids = {e: f"E{k}" for k, e in enumerate(dict.fromkeys(s.entities))}
    return {
        "sentId": i,
        "articleId": "doc",
        "sentText": " ".join(s.tokens),
        "entityMentions": [
            {"emId": ids[e], "text": e.text(s.tokens), "offset": [e.start, e.end], "label": e.label}
            for e in ids
        ],
        "relationMentions": [
            {"em1Id": ids[r.head], "em2Id": ids[r.tail], "label": r.label} for r in s.relations
        ],
    }


@settings(max_examples=40, deadline=None)
@given(documents())
def test_round_trips_through_every_format(doc: list[Sentence]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "d.json").write_text(json.dumps(_to_dygie(doc)) + "\n", encoding="utf-8")
        assert read_dataset(root / "d.json") == doc
        (root / "n.jsonl").write_text(
            "".join(json.dumps(_to_nere(s, i)) + "\n" for i, s in enumerate(doc)), encoding="utf-8"
        )
        assert read_dataset(root / "n.jsonl", format="nere") == doc
        write_jsonl(doc, root / "c.jsonl")
        assert read_dataset(root / "c.jsonl") == doc
        (root / "a.json").write_text(json.dumps([s.to_json() for s in doc], indent=2), encoding="utf-8")
        assert read_dataset(root / "a.json") == doc


# ------------------------------------------------------------------------------ reports


def test_overlaps_nested_crossing_and_duplicates() -> None:
    tokens = tuple("abcdefgh")
    ents = (E(0, 3, "X"), E(1, 2, "Y"), E(2, 5, "Z"), E(5, 6, "W"), E(5, 6, "W"))
    found = overlaps([Sentence("s", tokens, ents)])
    kinds = {(o.first.span, o.second.span): o.kind for o in found}
    assert kinds == {((0, 3), (1, 2)): "nested", ((0, 3), (2, 5)): "crossing"}  # adjacent (2,5)/(5,6): none
    assert found[0].describe() == "s: nested [0, 3) X 'a b c' / [1, 2) Y 'b'"
    (dup,) = duplicates([Sentence("s", tokens, ents, (rel(ents[0], ents[1], "R"),))])
    assert (dup.kind, dup.item, dup.count) == ("entity", E(5, 6, "W"), 2)
    assert dup.describe() == "s: entity W [5, 6) x2"
    r = rel(ents[0], ents[1], "R")
    (dup,) = duplicates([Sentence("t", tokens, ents[:2], (r, r))])
    assert dup.describe() == "t: relation R [0, 3) -> [1, 2) x2"


# ------------------------------------------------------------------------------ datasets module


def test_symmetric_labels() -> None:
    assert dict(datasets.SYMMETRIC_LABELS) == {"scierc": {"COMPARE", "CONJUNCTION"}, "ace05": {"PER-SOC"}}
    assert datasets.symmetric_labels_for("SciERC") == {"COMPARE", "CONJUNCTION"}
    assert datasets.symmetric_labels_for("scierc/test") == {"COMPARE", "CONJUNCTION"}
    assert datasets.symmetric_labels_for(Path("/x/shared/data/scierc/dev.json")) == {"COMPARE", "CONJUNCTION"}
    assert datasets.symmetric_labels_for("data/train.ACE05.json") == {"PER-SOC"}
    assert datasets.symmetric_labels_for("ace2005/dev.json") == {"PER-SOC"}
    assert datasets.symmetric_labels_for("nyt_arnor/dev.jsonl") == frozenset()
    assert datasets.symmetric_labels_for("made/up.json") == frozenset()


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("scierc", "scierc"),
        ("x/ACE05/train.json", "ace05"),
        ("conll04_test.json", "conll04"),
        ("ade/split_0_train.json", "ade"),
        ("nyt_arnor/test.jsonl", "nyt"),
        ("grade/train.json", None),
        ("/home/ace05/a/b/c/d/train.json", None),
        ("facet.json", None),
    ],
)
def test_dataset_name(path: str, name: str | None) -> None:
    assert datasets.dataset_name(path) == name


def test_split_name() -> None:
    assert [
        datasets.split_name(p)
        for p in (
            "train.json",
            "dev.jsonl",
            "test.ACE05.json",
            "x_validation.json",
            "wiki.valid.raw",
            "contest.json",
        )
    ] == ["train", "dev", "test", "valid", "valid", None]


def test_find_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for rel_path in (
        "b/test.json",
        "b/train.json",
        "b/notes.md",
        "b/raw/dev.json",
        "a/dev.jsonl",
        "a/x.json",
        "c/wiki.valid.raw",
    ):
        (tmp_path / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel_path).write_text("", encoding="utf-8")
    expected = {
        "a/dev": tmp_path / "a/dev.jsonl",
        "b/train": tmp_path / "b/train.json",
        "b/test": tmp_path / "b/test.json",
    }
    found = datasets.find_splits(tmp_path)
    assert found == expected and list(found) == ["a/dev", "b/train", "b/test"]
    monkeypatch.setenv("ENPAR_DATA", str(tmp_path))
    assert datasets.find_splits() == expected
    assert datasets.find_splits(tmp_path / "absent") == {}
    monkeypatch.setenv("ENPAR_DATA", str(tmp_path / "absent"))
    assert datasets.find_splits() == {}


def test_corpus_stats(fixtures_dir: Path) -> None:
    stats = datasets.corpus_stats(read_dataset(fixtures_dir / "dygie_small.json"))
    assert {k: stats[k] for k in ("documents", "sentences", "tokens", "entities", "relations")} == {
        "documents": 2,
        "sentences": 3,
        "tokens": 19,
        "entities": 5,
        "relations": 3,
    }
    assert stats["entity_types"] == {"PER": 2, "ORG": 2, "LOC": 1}
    assert stats["overlaps"] == {"nested": 1, "crossing": 0, "sentences": 1}
    assert datasets.corpus_stats(read_dataset(fixtures_dir / "spert_small.json"))["documents"] is None
    json.dumps(stats)


# ------------------------------------------------------------------------------ real data


SCIERC = {  # split: sentences, entities, relations, documents, tokens, nested overlaps, duplicate relations
    "train": (1861, 5598, 3219, 350, 45412, 61, 4),
    "dev": (275, 811, 455, 50, 6521, 7, 0),
    "test": (551, 1685, 974, 100, 13401, 20, 0),
}


@pytest.mark.parametrize("split", list(SCIERC))
def test_scierc_counts(shared_data: Path, split: str) -> None:
    path = shared_data / "scierc" / f"{split}.json"
    assert detect_format(path) == "dygie"
    sents = read_dataset(path)
    stats = datasets.corpus_stats(sents)
    got = (
        stats["sentences"],
        stats["entities"],
        stats["relations"],
        stats["documents"],
        stats["tokens"],
        stats["overlaps"]["nested"],
        stats["duplicates"]["relations"],
    )
    assert got == SCIERC[split]
    assert stats["overlaps"]["crossing"] == 0 and stats["duplicates"]["entities"] == 0
    assert set(stats["relation_types"]) == {
        "USED-FOR",
        "CONJUNCTION",
        "EVALUATE-FOR",
        "HYPONYM-OF",
        "PART-OF",
        "FEATURE-OF",
        "COMPARE",
    }
    assert len({s.id for s in sents}) == len(sents)


def test_scierc_offsets_against_raw_line(shared_data: Path) -> None:
    path = shared_data / "scierc" / "test.json"
    doc = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    sents = [s for s in read_dataset(path) if s.doc_id == doc["doc_key"]]
    tokens = [t for sent in doc["sentences"] for t in sent]
    for s, ner in zip(sents, doc["ner"], strict=True):
        assert [e.text(s.tokens) for e in s.entities] == [" ".join(tokens[a : b + 1]) for a, b, _ in ner]


@pytest.mark.parametrize(
    ("split", "counts"), [("dev", (495, 19393, 1304, 337, 3)), ("test", (491, 18995, 1293, 323, 7))]
)
def test_nyt_counts(shared_data: Path, split: str, counts: tuple[int, ...]) -> None:
    path = shared_data / "nyt_arnor" / f"{split}.jsonl"
    assert detect_format(path) == "canonical"
    stats = datasets.corpus_stats(read_dataset(path))
    got = (
        stats["sentences"],
        stats["tokens"],
        stats["entities"],
        stats["relations"],
        stats["overlaps"]["nested"] + stats["overlaps"]["crossing"],
    )
    assert got == counts


def test_find_splits_on_shared_data(shared_data: Path) -> None:
    found = datasets.find_splits(shared_data)
    assert {k: v.relative_to(shared_data).as_posix() for k, v in found.items()} == {
        "nyt_arnor/dev": "nyt_arnor/dev.jsonl",
        "nyt_arnor/test": "nyt_arnor/test.jsonl",
        "scierc/train": "scierc/train.json",
        "scierc/dev": "scierc/dev.json",
        "scierc/test": "scierc/test.json",
    }


def test_parse_dataset_reads_text_in_memory_like_a_file(tmp_path: Path) -> None:
    text = '{"id": "s1", "tokens": ["A", "b"], "entities": [[0, 1, "X"]], "relations": []}\n'
    path = tmp_path / "up.jsonl"
    path.write_text(text)
    assert parse_dataset(text, name="up.jsonl") == read_dataset(path)
    with pytest.raises(DataError) as err:
        parse_dataset(text + '{"id": "s1", "tokens": ["c"]}\n', name="upload.jsonl")
    assert "upload.jsonl:2" in str(err.value) and "duplicate sentence id" in str(err.value)
