"""Examples: the paper's Table 4 as a browser: sentences where A and B disagree, drawn as on Compare."""

import streamlit as st

from app import examples, loading, ui, views
from enpar.metrics import align_predictions

ui.ensure_frame()  # no-op unless Streamlit ran this page without the entrypoint

st.title("Examples where A and B disagree")
picked = views.ab_predictions(key="ex")
if picked is None:
    st.stop()
split, gold_path, preds, names = picked
convention, symmetric = views.convention_controls()
try:
    gold = loading.read_dataset(gold_path)
    systems = {
        name: align_predictions(gold, loading.read_predictions(path), what=f"predictions {name}")
        for name, path in preds.items()
    }
    labels = loading.symmetric_labels(gold_path)
    items = examples.find_disagreements(
        gold, systems["A"], systems["B"], convention=convention, symmetric=symmetric, symmetric_labels=labels
    )
except Exception as exc:  # mismatched or broken files: say which, keep the page
    ui.show_error(exc, what="Could not compare these predictions")
    st.stop()

kept = views.example_filters(items, gold)
groups = examples.by_sentence(kept)
st.caption(
    f"{len(kept)} of {len(items)} disagreements, in {len(groups)} sentences of {split} · "
    + " · ".join(f"{n} = {label}" for n, label in names.items())
)
if not groups:
    st.info("No sentence matches these filters.")
    st.stop()
order = list(groups)
aligned = {name: [systems[name][i] for i in order] for name in systems}
captions = {k: [examples.describe(d, gold[i]) for d in groups[i]] for k, i in enumerate(order)}
views.show_comparison(
    aligned,
    gold=[gold[i] for i in order],
    key="ex",
    captions=captions,
    symmetric_labels=labels if symmetric != "directed" else frozenset(),
    strict=convention == "relation_strict",
)
