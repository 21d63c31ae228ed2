"""Named fine-tuning settings: the paper's and the one adopted on SciERC dev for this 2-core CPU.

`enpar finetune --preset NAME` starts from a preset (explicit flags and --set override it) and saves
its name in the run's config.json; the app imports this module to show the equivalent command. A preset
is the whole recipe: the epoch budget, FinetuneConfig / ModelConfig overrides (everything not named
is the paper's, enpar.config) and the prediction-time decoding written beside best/ (decoding.json).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    """One named setting; the dicts hold only what differs from the paper's defaults."""

    name: str
    description: str
    epochs: int
    finetune: dict[str, Any] = field(default_factory=dict)  # FinetuneConfig overrides
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    decoding: dict[str, Any] = field(default_factory=dict)  # enpar.decoding.Decoding fields


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="scierc-cpu",
            description=(
                "The CPU budget chosen on SciERC dev (README 'Tuning on dev'): 30 epochs of batch 8 at "
                "lr 1e-4, with the document type vote at prediction time; the rest is the paper's."
            ),
            epochs=30,
            finetune={"batch_size": 8, "lr": 1e-4},
            decoding={"document_type_vote": True},
        ),
        Preset(
            name="paper",
            description=(
                "The paper's setting (spec section 4.4): 200 epochs of batch 32 at lr 2.5e-5, no "
                "document type vote (~4 h per seed with MiniLM on this CPU)."
            ),
            epochs=200,
            finetune={"batch_size": 32, "lr": 2.5e-5},
            decoding={"document_type_vote": False},
        ),
    )
}
# The flags `enpar finetune` has for FinetuneConfig fields; the rest are shown as --set KEY=VALUE.
_FLAGS = {"batch_size": "--batch-size", "lr": "--lr", "seed": "--seed", "patience": "--patience"}


def get_preset(name: str) -> Preset:
    """The preset called `name`; ValueError naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {sorted(PRESETS)}") from None


def preset_args(name: str) -> list[str]:
    """The `enpar finetune` flags equivalent to the preset's training settings (for display; the
    decoding part has no finetune flag: it is written to best/decoding.json)."""
    preset = get_preset(name)
    args = ["--epochs", str(preset.epochs)]
    for key, value in {**preset.finetune, **preset.model}.items():
        if key in _FLAGS:
            args += [_FLAGS[key], _format(value)]
        elif key == "encoder":
            args += ["--encoder", str(value)]
        else:
            args += ["--set", f"{key}={_format(value)}"]
    return args


def _format(value: Any) -> str:
    """A value as the CLI takes it (JSON for --set; floats without a trailing '.0' noise)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
