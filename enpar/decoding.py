"""Prediction-time decoding choices, kept apart from the trained weights.

A checkpoint folder may hold `decoding.json` beside its config.json and weights; `enpar finetune` writes
it from the preset when it saves best/, and `enpar evaluate` / `enpar predict` take overrides on the
command line. Nothing ever rewrites a checkpoint's config.json or weights to change how it decodes.
Absent file = the defaults (the paper's decoding). Checkpoints written before this file existed kept
the document type vote in their model config; that value is read where there is no decoding.json.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enpar.schema import InputError

DECODING_FILE = "decoding.json"
_TRUE, _FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0")


@dataclass(frozen=True)
class Decoding:
    """How predictions are decoded from a model's scores (training is unaffected)."""

    # Not in the paper; adopted on SciERC dev (README "Tuning on dev"): predicted mentions with the same
    # lower-cased words in one document (doc_id; a sentence without one is its own document) all get one
    # type, the argmax of their mean type distribution (enpar.document_vote).
    document_type_vote: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | Path = "decoding") -> Decoding:
        """From JSON; unknown keys or a value of the wrong type are refused, naming `source`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError(f"{source}: unknown decoding settings {unknown}; known: {sorted(names)}")
        for key, value in data.items():
            if not isinstance(value, bool):
                raise InputError(f"{source}: {key} must be true or false, not {value!r}")
        return cls(**data)

    def with_overrides(self, **values: bool | None) -> Decoding:
        """A copy with the given settings changed; None keeps the current value."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})


DEFAULT_DECODING = Decoding()  # the paper's: no vote


def parse_on_off(value: Any) -> bool:
    """An on/off setting from the CLI or JSON: on/off, true/false, yes/no, 1/0 (ValueError otherwise)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in _TRUE + _FALSE:
        raise ValueError(f"expected on or off (true / false), not {value!r}")
    return word in _TRUE


def read_decoding(checkpoint: str | Path) -> Decoding:
    """The checkpoint's decoding: its decoding.json, else an old config.json's model.document_type_vote,
    else the defaults."""
    folder = Path(checkpoint)
    path = folder / DECODING_FILE
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object of decoding settings")
        return Decoding.from_dict(data, path)
    config = folder / "config.json"
    if config.is_file():
        try:
            model = json.loads(config.read_text(encoding="utf-8")).get("model") or {}
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return Decoding()  # the checkpoint loader reports a broken config.json itself
        return Decoding(document_type_vote=bool(model.get("document_type_vote", False)))
    return Decoding()


def write_decoding(checkpoint: str | Path, decoding: Decoding) -> Path:
    """Write decoding.json into a checkpoint folder (the only file of it ever written after training)."""
    from enpar.storage import write_json  # torch-free at import: the CLI's --help reads this module

    path = Path(checkpoint) / DECODING_FILE
    write_json(path, decoding.to_dict())
    return path
