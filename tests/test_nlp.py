"""enpar.nlp: lean spaCy loading and robust sentence splitting."""

from __future__ import annotations

from pathlib import Path

import pytest

from enpar.nlp import SpacyModelError, chunk_text, clean_token, is_blank_token, load_spacy, split_sentences

spacy = pytest.importorskip("spacy")


@pytest.fixture(scope="module")
def blank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("blank") / "pipeline"
    spacy.blank("en").to_disk(out)
    return out


def test_clean_and_blank_tokens() -> None:
    assert clean_token("This\u200b") == "This"
    assert clean_token("naïve") == "naïve"
    assert is_blank_token("\n\n") and is_blank_token("\u00a0") and is_blank_token("\u200b")
    assert not is_blank_token("🎉")


def test_chunk_text_respects_limit_and_keeps_everything() -> None:
    text = ("one two three.\n\nfour five six seven. " * 500) + "x" * 5000
    chunks = list(chunk_text(text, 997))
    assert all(len(c) <= 997 for c in chunks)
    assert "".join(chunks) == text


def test_split_sentences_with_sentencizer_fallback(blank_dir: Path) -> None:
    nlp = load_spacy(blank_dir, purpose="sentences")  # no senter/parser: a sentencizer is added
    assert split_sentences("", nlp) == [] and split_sentences(" \n\t ", nlp) == []
    out = split_sentences("Hello  world. Second\u200b one!\n\nThird para without stop", nlp)
    assert out == [["Hello", "world", "."], ["Second", "one", "!"], ["Third", "para", "without", "stop"]]
    old, nlp.max_length = nlp.max_length, 50  # longer text is chunked, never refused
    try:
        long = " ".join(["word"] * 400) + "."
        assert sum(len(s) for s in split_sentences(long, nlp)) == 401
    finally:
        nlp.max_length = old


def test_errors(blank_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SpacyModelError, match="no NER component"):
        load_spacy(blank_dir, purpose="ner")
    with pytest.raises(SpacyModelError, match="cannot load"):
        load_spacy(tmp_path / "nothing-here", purpose="ner")
    with pytest.raises(ValueError, match="purpose"):
        load_spacy(blank_dir, purpose="parse")  # type: ignore[arg-type]


@pytest.mark.integration
def test_default_model_components() -> None:
    from enpar.nlp import DEFAULT_SPACY

    try:
        ner = load_spacy(DEFAULT_SPACY, purpose="ner")
    except SpacyModelError:
        pytest.skip(f"{DEFAULT_SPACY} not installed")
    assert ner.pipe_names == ["ner"]
    assert load_spacy(DEFAULT_SPACY, purpose="sentences").pipe_names == ["senter"]
    assert load_spacy(DEFAULT_SPACY, purpose="ner") is ner  # cached
    sents = split_sentences("Apple is in Cupertino. Paris is in France.")
    assert sents == [["Apple", "is", "in", "Cupertino", "."], ["Paris", "is", "in", "France", "."]]
