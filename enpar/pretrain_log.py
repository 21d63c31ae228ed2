"""What the pre-training run log records beside the losses: per objective the distinct sentences drawn so
far and the accuracy of a trivial predictor on the same targets, so an accuracy can be read against it.

    PP        always "identity" (class 0): the identity rate of the labels (1/np by construction)
    ACD       chance, 0.5 (s(pos) > s(neg) is a coin flip for an untrained scorer)
    MET       always the majority type so far (counts over the run, this step's labels included)
    MEP, MLM  always the most frequent target piece so far (a unigram guess)

Under torchrun each process counts its own labels; the hits are summed over processes with the losses.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from enpar.pretrain_data import IDENTITY, TaskBatch

LOG = "log.jsonl"
PLOT = "loss_curves.png"


class Baselines:
    """Trivial-predictor hits per objective, accumulated over a step's micro-batches."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[int]] = {}

    def hits(self, tb: TaskBatch) -> tuple[float, int]:
        """(trivial predictor's correct answers, targets) for one batch."""
        if tb.task == "acd":
            return 0.5 * tb.size, tb.size
        if tb.task == "pp":
            labels = tb.labels.tolist()
            return float(sum(lab == IDENTITY for lab in labels)), len(labels)
        values = tb.labels if tb.task == "met" else tb.targets
        labels = [v for v in values.tolist() if v >= 0]
        counts = self.counts.setdefault(tb.task, Counter())
        counts.update(labels)
        if not labels:
            return 0.0, 0
        majority = counts.most_common(1)[0][0]
        return float(sum(lab == majority for lab in labels)), len(labels)


def coverage_summary(rows: list[dict[str, Any]], tasks: tuple[str, ...]) -> dict[str, Any]:
    """Per objective: distinct sentences and passes at the end, accuracy and baseline over the last 10%
    of the logged steps."""
    if not rows:
        return {}
    window = rows[-max(1, len(rows) // 10) :]
    out: dict[str, Any] = {}
    for t in tasks:
        last = rows[-1]
        out[t] = {
            "distinct_sentences": last.get("distinct", {}).get(t),
            "passes": last.get("passes", {}).get(t),
            "accuracy_last": mean([r["accuracy"][t] for r in window]),
            "baseline_last": mean([r["baseline"][t] for r in window if t in r.get("baseline", {})]),
        }
    return out


def mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 5) if values else float("nan")


def append_row(out: Path, record: dict[str, Any]) -> None:
    with (out / LOG).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def plot(out: Path) -> None:
    """Redraw the loss curves; a plotting problem must never stop training."""
    try:
        from enpar.lossplot import plot_losses

        plot_losses(out / LOG, out / PLOT)
    except Exception as exc:  # noqa: BLE001 - e.g. Pillow missing
        print(f"warning: could not draw {out / PLOT}: {exc}", file=sys.stderr)
