"""Pasted text in the app (app.paste): split once with spaCy, never cut inside a sentence; sentences over
the encoder's limit go through the model's sliding windows and the page is told so; empty and huge pastes
get a clear message; models load once (also from the background warm-up)."""

from __future__ import annotations

from pathlib import Path

import pytest
import studio_helpers as helpers

from app import loading, paste

pytestmark = pytest.mark.usefixtures("one_thread")

# 600 words in one sentence (no full stop before the end): the "601-token paste".
LONG = " ".join(f"method{i} improves task{i}" if i % 2 else f"and{i}" for i in range(300)) + " ."


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> str:
    """A tiny checkpoint whose encoder takes 128 positions: a 600-word sentence needs windows (few
    entities: every pair of them is a relation candidate)."""
    out = tmp_path_factory.mktemp("paste") / "ckpt"
    return str(helpers.make_checkpoint(out, encoder=tiny_encoder_dir, seed=3, outside_bias=4.25))


def test_empty_and_huge_pastes_get_a_message_with_the_cap() -> None:
    assert "empty" in paste.prepare_paste(" \n\t ").error
    huge = paste.prepare_paste("word " * 20, max_chars=50)
    assert huge.error and not huge.sentences
    assert "100 characters" in huge.error and "limit for a paste is 50" in huge.error


def test_a_600_word_sentence_stays_one_sentence_and_is_read_in_windows(checkpoint: str) -> None:
    pasted = paste.prepare_paste(LONG + "\nA second sentence follows here .")
    assert not pasted.error
    assert len(pasted.sentences) == 2, [len(s.tokens) for s in pasted.sentences]
    assert len(pasted.sentences[0].tokens) == 601
    assert [s.id for s in pasted.sentences] == ["s1", "s2"]

    notes = paste.long_sentence_notes(checkpoint, pasted.sentences)
    assert len(notes) == 1 and notes[0].startswith("Sentence 1 has 601 words")
    assert "overlapping windows of 126 pieces" in notes[0]

    preds = paste.predict_paste(checkpoint, pasted)
    assert [p.tokens for p in preds] == [s.tokens for s in pasted.sentences]
    # the last words are predicted too: the sentence was not cut
    assert any(e.start >= 400 for e in preds[0].entities), [e.start for e in preds[0].entities]
    assert any(max(r.head.end, r.tail.end) > 126 for r in preds[0].relations) or preds[0].relations == ()


def test_one_sentence_per_line_and_unicode(checkpoint: str) -> None:
    text = "Первое предложение. Still the first line\n\n  عربي نص هنا  \n漢字テキスト"
    lines = paste.prepare_paste(text, one_per_line=True)
    assert len(lines.sentences) == 3 and "one per line" in lines.notes[0]
    assert lines.sentences[1].tokens == ("عربي", "نص", "هنا")
    assert paste.long_sentence_notes(checkpoint, lines.sentences) == []
    preds = paste.predict_paste(checkpoint, lines)
    assert [p.tokens for p in preds] == [s.tokens for s in lines.sentences]


def test_models_load_once_also_from_the_warm_up(checkpoint: str) -> None:
    thread = loading.warm_up([checkpoint, None])
    assert loading.warm_up([checkpoint]) is None  # one warm-up per set of checkpoints
    if thread is not None:
        thread.join(timeout=120)
    assert loading.is_loaded(checkpoint)
    assert loading.load_predictor(checkpoint) is loading.load_predictor(checkpoint)
