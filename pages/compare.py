"""Compare: paste sentences (or pick a dataset sentence, with its gold) and see A and B side by side."""

import streamlit as st

from app import state, ui, views

ui.ensure_frame()  # no-op unless Streamlit ran this page without the entrypoint

st.title("Compare checkpoints")
pair = ui.require_pair()
if pair is None:
    st.stop()

source = st.segmented_control(
    "Input", ["Paste text", "Dataset sentence"], key=state.CMP_SOURCE, required=True
)
if source == "Dataset sentence":
    gold_sentence = views.dataset_sentence_input()
    if gold_sentence is None:
        st.stop()
    split = ui.selected_split()
    predictions = views.predict_both(pair, gold=gold_sentence)
    views.show_comparison(
        predictions,
        gold=[gold_sentence],
        key="cmp_ds",
        symmetric_labels=views.unordered_labels(split[1] if split else None),
    )
else:
    text = views.paste_input(key="cmp_paste")
    if not text.strip():
        st.info(
            "Paste one or more sentences above (or click **Example**) to see what A and B extract.",
            icon=":material/edit_note:",
        )
        st.stop()
    predictions = views.predict_both(pair, text=text)
    views.show_comparison(predictions, key="cmp_paste")

for ckpt in dict.fromkeys(pair):  # A and B, once if they are the same
    views.checkpoint_config(ckpt)
