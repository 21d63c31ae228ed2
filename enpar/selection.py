"""Dev scoring for model selection: predict with a model, score against the gold (enpar.metrics), and the
selection score of spec 4.4 (entity micro F1 + exact relation micro F1). Shared by fine-tuning and the
scripts that compare checkpoints or ensembles on dev."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from enpar.data import Example, Specials
from enpar.decoding import DEFAULT_DECODING, Decoding
from enpar.metrics import CONVENTIONS
from enpar.model import JointModel
from enpar.predict import run_inference
from enpar.schema import Sentence


def selection_score(scores: dict[str, Any]) -> float:
    """Model selection (spec 4.4): entity micro F1 + exact relation micro F1."""
    return float(scores["entity"]["micro"]["f1"]) + float(scores["relation_strict"]["micro"]["f1"])


def evaluate(
    model: JointModel,
    examples: Sequence[Example],
    specials: Specials,
    *,
    device: torch.device,
    batch_size: int,
    bf16: bool = True,
    progress: Any = None,
    decoding: Decoding = DEFAULT_DECODING,
) -> tuple[list[Sentence], dict[str, Any]]:
    """Predictions for the examples' sentences and their scores against the examples' gold."""
    from enpar.metrics import score

    preds = run_inference(
        model,
        examples,
        specials,
        device=device,
        batch_size=batch_size,
        bf16=bf16,
        progress=progress,
        decoding=decoding,
    )
    gold = [ex.sentence for ex in examples]
    pred_sents = [s.with_predictions(e, r) for s, (e, r) in zip(gold, preds, strict=True)]
    return pred_sents, score(gold, pred_sents)


def micro_f1s(scores: dict[str, Any]) -> dict[str, float]:
    """The three micro F1s of an enpar.metrics.score result, rounded for JSON."""
    return {conv: round(float(scores[conv]["micro"]["f1"]), 6) for conv in CONVENTIONS}


def score_row(scores: dict[str, Any]) -> dict[str, float]:
    """The selection score and the three micro F1s: one row of a sweep or comparison."""
    return {"score": round(selection_score(scores), 6), **micro_f1s(scores)}
