"""The built-in comparisons: committed test predictions the analysis pages open on when there is no
checkpoint, as data. Switching to other result folders (e.g. the study of issue 25) is one edit here.

Each system is a results/ folder holding `seed<N>/predictions.jsonl` for every listed seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class BuiltinSystem:
    name: str  # shown in legends, tables and exports
    folder: str  # relative to the project root
    recipe: str  # how it was trained, in one line

    def predictions(self, seed: int) -> Path:
        return PROJECT_ROOT / self.folder / f"seed{seed}" / "predictions.jsonl"


@dataclass(frozen=True)
class BuiltinPair:
    title: str
    split: str  # gold split name as enpar.datasets.find_splits() keys it
    a: BuiltinSystem
    b: BuiltinSystem
    seeds: tuple[int, ...]
    caveat: str  # what a reader must know before trusting the difference


PAIRS: tuple[BuiltinPair, ...] = (
    BuiltinPair(
        title="SciERC test: BERT baseline vs ENPAR (committed predictions)",
        split="scierc/test",
        a=BuiltinSystem(
            "BERT baseline",
            "results/scierc-baseline-bs8-30ep",
            "MiniLM encoder fine-tuned from its public weights: 30 epochs, batch 8, lr 5e-5",
        ),
        b=BuiltinSystem(
            "ENPAR",
            "results/scierc-enpar400-bs8",
            "MiniLM after 400 steps of ENPAR pre-training, then fine-tuned: 15 epochs, batch 8, lr 5e-5",
        ),
        seeds=(5216, 5217, 5218),
        caveat=(
            "Unequal fine-tuning budgets: 30 vs 15 epochs. This pair shows what the app does; it is not "
            "a fair test of ENPAR (the equal-budget study of issue 25 will replace it)."
        ),
    ),
)
