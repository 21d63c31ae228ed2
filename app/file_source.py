"""The "Files" source: gold (a split of the data folder, or an upload) and one or two uploaded prediction
files, kept in this browser session once parsed."""

from __future__ import annotations

import streamlit as st

from app import analysis, loading, sources, state, upload
from enpar.readers import FORMAT_CHOICES

SLOTS = {
    "A": "Predictions of system A",
    "B": "Predictions of system B (optional: leave empty for one system)",
}


def _upload_slot(slot: str, label: str, *, key: str) -> upload.Upload | None:
    """An uploader for one slot; the parsed file stays in the session (shown with a remove button)."""
    kept = sources.uploads()
    current = kept.get(slot)
    if current is not None:
        c1, c2 = st.columns([5, 1])
        c1.markdown(
            f"{label}: **{current.name}** ({len(current.sentences)} sentences, format {current.format})"
        )
        if c2.button("Remove", key=f"{key}_rm_{slot}"):
            kept.pop(slot, None)
            st.rerun()
        return current
    file = st.file_uploader(
        label,
        type=["json", "jsonl"],
        key=f"{key}_up_{slot}",
        help=f"JSON lines or a JSON array in any format enpar reads (canonical, DyGIE, NERE, SpERT); at most "
        f"{upload.MAX_BYTES // (1024 * 1024)} MB. Parsed in memory, kept for this browser session only.",
    )
    if file is None:
        return None
    fmt = str(st.session_state.get(state.AN_FORMAT) or "auto")
    kept[slot] = upload.parse(file.name, file.getvalue(), format=fmt)  # DataError: shown by sources.pick
    return kept[slot]


def _gold(*, key: str) -> tuple[str, str, list, str, str | None] | None:
    """(name, source, sentences, version, path) of the gold: a split of the data folder (path, version =
    its modification time) or an uploaded file (no path, version = its content digest)."""
    splits = loading.find_splits()
    mode = st.segmented_control(
        "Gold",
        ["Data folder split", "Upload"],
        key=state.AN_GOLD_MODE,
        required=True,
        help="The gold sentences the predictions are scored against.",
    )
    if mode == "Upload" or not splits:
        if not splits and mode != "Upload":
            st.caption("No split in the data folder: upload the gold file.")
        gold = _upload_slot("gold", "Gold file", key=key)
        return (gold.name, f"upload {gold.name}", list(gold.sentences), gold.digest, None) if gold else None
    names = list(splits)
    if st.session_state.get(state.AN_GOLD_SPLIT) not in names:
        st.session_state[state.AN_GOLD_SPLIT] = st.session_state.get(state.SPLIT) or names[0]
    name = str(st.selectbox("Gold split", names, key=state.AN_GOLD_SPLIT))
    path = splits[name]
    return name, path, loading.read_dataset(path), str(loading.file_stamp(path)), path


def pick(*, key: str) -> analysis.Analysis | None:
    st.selectbox(
        "Format of uploaded files",
        FORMAT_CHOICES,
        key=state.AN_FORMAT,
        help="auto: detected from the content. Files without sentence ids line up with gold by position.",
    )
    gold = _gold(key=key)
    preds = {slot: _upload_slot(slot, label, key=key) for slot, label in SLOTS.items()}
    if gold is None or preds["A"] is None:
        st.info(
            "Choose the gold and upload at least the predictions of system A (system B is optional: "
            "without it the page scores one system against gold).",
            icon=":material/upload_file:",
        )
        return None
    systems = [
        (
            st.session_state.get(f"{key}_name_{slot}") or up.name.rsplit(".", 1)[0],
            f"upload {up.name}",
            list(up.sentences),
        )
        for slot, up in preds.items()
        if up is not None
    ]
    cols = st.columns(len(systems))
    for col, slot in zip(cols, [s for s, up in preds.items() if up is not None], strict=True):
        col.text_input(
            f"Name of system {slot}", key=f"{key}_name_{slot}", placeholder=preds[slot].name.rsplit(".", 1)[0]
        )  # type: ignore[union-attr]
    name, source, sentences, version, path = gold
    digests = [up.digest for up in preds.values() if up is not None]
    return analysis.build(  # the key holds the gold's version: a new file under the same name is read anew
        key=sources._digest(source, version, digests, [s[0] for s in systems]),
        gold_name=name,
        gold_source=source,
        gold=sentences,
        systems=systems,
        symmetric_labels=loading.symmetric_labels(path),
    )
