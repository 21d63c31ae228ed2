"""Pasted text for Compare: split once into sentences (shared by both systems), never cut inside one.

A sentence of any length stays one sentence: the model reads one longer than its encoder's limit in
overlapping windows (enpar.encoding.windows), and `long_sentence_notes` says so for the page to show.
Empty and oversized pastes come back with an `error` to show instead of predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from app.loading import load_predictor, weights_stamp
from enpar.schema import Sentence

MAX_PASTE_CHARS = 50_000  # about 400 sentences: a minute of CPU per system; beyond that, run an evaluation


@dataclass(frozen=True)
class Paste:
    """A paste split into sentences, or why it cannot be predicted (`error`)."""

    sentences: tuple[Sentence, ...] = ()
    error: str = ""
    notes: tuple[str, ...] = ()  # what the page should say about the split


@st.cache_data(show_spinner=False, max_entries=64)
def _split_sentences(text: str, one_per_line: bool) -> list[tuple[str, ...]]:
    from enpar.nlp import DEFAULT_SPACY, load_spacy, split_sentences

    nlp = load_spacy(DEFAULT_SPACY, purpose="sentences")
    if not one_per_line:
        return [tuple(t) for t in split_sentences(text, nlp)]
    # Each line is one sentence: only spaCy's tokenizer runs (no sentence boundaries inside a line).
    docs = nlp.tokenizer.pipe(line.strip() for line in text.splitlines() if line.strip())
    return [tuple(tok.text for tok in doc if not tok.is_space) for doc in docs]


def prepare_paste(text: str, *, one_per_line: bool = False, max_chars: int = MAX_PASTE_CHARS) -> Paste:
    """Split a paste into sentences with spaCy (or one per line), ids s1, s2, ... and one doc id.

    Nothing is cut: a sentence of any length stays one sentence (see long_sentence_notes for how the model
    reads one that is longer than its encoder's limit). Empty and oversized pastes return an `error`.
    """
    if not text.strip():
        return Paste(error="Nothing to predict: the text box is empty.")
    if len(text) > max_chars:
        return Paste(
            error=f"The text has {len(text):,} characters; the limit for a paste is {max_chars:,}. "
            "Paste a part of it, or save it as a dataset file and evaluate it as a run."
        )
    tokens = _split_sentences(text, one_per_line)
    sentences = tuple(
        Sentence(f"s{i + 1}", toks, doc_id="paste") for i, toks in enumerate(t for t in tokens if t)
    )
    if not sentences:
        return Paste(error="Nothing to predict: the text holds no words.")
    how = "one per line" if one_per_line else "by spaCy"
    n = len(sentences)
    return Paste(sentences, notes=(f"{n} sentence{'s' if n != 1 else ''} (split {how}).",))


def long_sentence_notes(checkpoint: str, sentences: Sequence[Sentence]) -> list[str]:
    """One line per sentence longer than the checkpoint's encoder limit, saying how the model reads it:
    whole, in overlapping windows (enpar.encoding.windows), so relations across it are still predicted."""
    from enpar.encoding import windows, words_to_pieces

    predictor = load_predictor(checkpoint)
    limit = predictor.specials.max_pieces - 2  # [CLS] and [SEP]
    notes = []
    for i, pieces in enumerate(words_to_pieces(predictor.tokenizer, [s.tokens for s in sentences])):
        n = len(pieces)
        if n > limit:
            k = len(windows(n, limit))
            notes.append(
                f"Sentence {i + 1} has {len(sentences[i].tokens)} words ({n} word pieces), more than the "
                f"encoder's {limit}-piece limit: it is read whole in {k} overlapping windows of {limit} "
                "pieces (each word from the window where it has most context), so relations across the "
                "whole sentence are still predicted."
            )
    return notes


@st.cache_data(show_spinner=False, max_entries=256)
def _predict_sentences(checkpoint: str, stamp: float, sentences: tuple[Sentence, ...]) -> list[Sentence]:
    return load_predictor(checkpoint).predict_sentences(list(sentences))


def predict_paste(
    checkpoint: str, paste: Paste, *, progress: Callable[[int, int], None] | None = None
) -> list[Sentence]:
    """Predictions for a prepared paste, in one call (the whole paste is one document for the model's
    document context), cached by (checkpoint, sentences). `progress(done, total)` in sentences."""
    if not paste.sentences:
        return []
    if progress:
        progress(0, len(paste.sentences))
    out = _predict_sentences(checkpoint, weights_stamp(checkpoint), paste.sentences)
    if progress:
        progress(len(out), len(out))
    return out
