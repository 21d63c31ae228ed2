"""Compare: paste sentences (or pick a dataset sentence, with its gold) and see A and B side by side."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from app import loading, paste, sentences, state, ui
from enpar.schema import Sentence

EXAMPLE_TEXT = (
    "Vladimir Putin was greeted by Prince Charles as he arrived in London today.\n"
    "We propose a neural model for joint entity and relation extraction and evaluate it on SciERC."
)


def paste_input(*, key: str) -> str:
    """The paste box (and an example button); returns the text."""

    def use_example() -> None:
        st.session_state[state.CMP_TEXT] = EXAMPLE_TEXT

    st.text_area(
        "Sentences",
        key=state.CMP_TEXT,
        height=140,
        placeholder="Paste one or more sentences (any length, any language; they are split with spaCy).",
    )
    left, right, toggle = st.columns([1, 1, 6])
    left.button("Compare", key=f"{key}_go", type="primary")
    right.button("Example", key=f"{key}_example", on_click=use_example)
    toggle.toggle("One sentence per line", key=state.CMP_PER_LINE, help="Off: spaCy finds the sentences.")
    return str(st.session_state.get(state.CMP_TEXT) or "")


def dataset_sentence_input() -> Sentence | None:
    """Pick one sentence of the sidebar's split; returns it with its gold (None after a message)."""
    split = ui.selected_split()
    if split is None:
        ui.no_split_help()
        return None
    name, path = split
    try:
        gold = loading.read_dataset(path)
    except Exception as exc:  # a bad data file: show where, never a traceback
        ui.show_error(exc, what=f"Could not read the gold split {name}")
        return None
    if not gold:
        st.info(f"The split {name} holds no sentences.")
        return None
    if not 0 <= int(st.session_state.get(state.CMP_INDEX) or 0) < len(gold):
        st.session_state[state.CMP_INDEX] = 0

    def preview(i: int) -> str:
        text = " ".join(gold[i].tokens)
        return f"{i + 1}. [{gold[i].id}] {text[:110]}{'…' if len(text) > 110 else ''}"

    index = st.selectbox(
        f"Sentence of {name} ({len(gold)})", range(len(gold)), key=state.CMP_INDEX, format_func=preview
    )
    return gold[int(index or 0)]


def predict_both(
    pair: tuple[str, str], *, pasted: paste.Paste | None = None, gold: Sentence | None = None
) -> dict[str, list[Sentence] | None]:
    """A's and B's predictions for a prepared paste or for one gold sentence.

    A system whose checkpoint fails to load or predict shows the error and maps to None.
    """
    out: dict[str, list[Sentence] | None] = {}
    for name, ckpt in zip(sentences.SYSTEMS, pair, strict=True):
        try:
            if not loading.is_loaded(ckpt):
                with st.spinner(f"Loading the model of {name} ({ui.checkpoint_label(ckpt)})…"):
                    loading.load_predictor(ckpt)
            with st.spinner(f"Predicting with {name}…"):
                if gold is not None:
                    out[name] = [loading.predict_sentence(ckpt, gold)]
                else:
                    out[name] = paste.predict_paste(ckpt, pasted or paste.Paste())
        except Exception as exc:  # a missing or broken checkpoint must not take the page down
            ui.show_error(exc, what=f"Checkpoint {name} ({ui.checkpoint_label(ckpt)}) could not predict")
            out[name] = None
    return out


def _paste_section(pair: tuple[str, str], titles: dict[str, str]) -> None:
    text = paste_input(key="cmp_paste")
    if not text.strip():
        st.info(
            "Paste one or more sentences above (or click **Example**) to see what A and B extract.",
            icon=":material/edit_note:",
        )
        return
    pasted = paste.prepare_paste(text, one_per_line=bool(st.session_state.get(state.CMP_PER_LINE)))
    if pasted.error:
        st.warning(pasted.error, icon=":material/warning:")
        return
    predictions = predict_both(pair, pasted=pasted)
    for ckpt in dict.fromkeys(pair):
        for note in paste.long_sentence_notes(ckpt, pasted.sentences) if loading.is_loaded(ckpt) else []:
            st.info(f"{ui.checkpoint_label(ckpt)}: {note}", icon=":material/wrap_text:")
    st.caption(" ".join(pasted.notes))
    sentences.show_comparison(predictions, titles=titles, key="cmp_paste")


def checkpoint_config(path: str | None) -> None:
    """A checkpoint's config.json in an expander."""
    if not path:
        return
    with st.expander(f"Config of {ui.checkpoint_label(path)}"):
        try:
            st.json(json.loads((Path(path) / "config.json").read_text(encoding="utf-8")), expanded=False)
        except (OSError, ValueError) as exc:
            ui.show_error(exc, what="Could not read config.json")


def page() -> None:
    st.title("Compare checkpoints")
    pair = ui.require_pair()
    if pair is None:
        return
    # Load the pair and spaCy in the background as the page opens (metric-only pages stay light), so the
    # first Compare does not wait for them.
    loading.warm_up(list(pair))
    titles = {n: f"{n}: {ui.checkpoint_label(c)}" for n, c in zip(sentences.SYSTEMS, pair, strict=True)}
    source = st.segmented_control(
        "Input", ["Paste text", "Dataset sentence"], key=state.CMP_SOURCE, required=True
    )
    if source == "Dataset sentence":
        gold_sentence = dataset_sentence_input()
        if gold_sentence is None:
            return
        split = ui.selected_split()
        sentences.show_comparison(
            predict_both(pair, gold=gold_sentence),
            titles=titles,
            gold=[gold_sentence],
            key="cmp_ds",
            symmetric_labels=sentences.unordered_labels(split[1] if split else None),
        )
    else:
        _paste_section(pair, titles)
    for ckpt in dict.fromkeys(pair):  # A and B, once if they are the same
        checkpoint_config(ckpt)


page()
