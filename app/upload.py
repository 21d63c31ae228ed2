"""Uploaded gold and prediction files: size-checked, decoded and parsed in memory by enpar.readers.

Nothing is written to disk and no path from the browser is ever opened: an upload is its bytes and the
name it came with (used only in messages). Parsed files are kept per browser session (st.session_state)
and cached by content digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

from enpar import readers
from enpar.schema import DataError, Sentence

MAX_BYTES = 20 * 1024 * 1024  # per file: SciERC's test predictions are ~0.25 MB


@dataclass(frozen=True, eq=False)
class Upload:
    name: str  # the browser's file name, for messages only
    digest: str  # sha256 of the bytes
    sentences: tuple[Sentence, ...]
    format: str  # as chosen ("auto": detected from the content)


@st.cache_resource(show_spinner=False, max_entries=16)
def _parse(digest: str, name: str, _data: bytes, format: str) -> Upload:
    try:
        text = _data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=name) from None
    if not text.strip():
        raise DataError("the file is empty", path=name)
    sentences = readers.parse_dataset(text, name=name, format=format)
    return Upload(name=name, digest=digest, sentences=tuple(sentences), format=format)


def parse(name: str, data: bytes, *, format: str = "auto") -> Upload:
    """An uploaded file's sentences (any format enpar.readers knows); DataError naming file, line, field."""
    if len(data) > MAX_BYTES:
        raise DataError(
            f"{len(data) / 1e6:.1f} MB is over the {MAX_BYTES // (1024 * 1024)} MB upload limit", path=name
        )
    return _parse(hashlib.sha256(data).hexdigest(), name, data, format)
