"""Predictions lined up with their gold: by sentence id, or by position when the ids do not match.

Files written by other systems (SpERT, PURE, a unified JSON) often carry no sentence ids, so the readers
derive ids from the file name and line and no id matches the gold's. Such a file still lines up when it
holds the same number of sentences with the same tokens in the same order; its sentences then take the
gold's ids. Anything else is an error naming what differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from enpar.metrics import align_predictions
from enpar.schema import DataError, Sentence

BY_ID, BY_POSITION = "id", "position"


def _position_problem(gold: Sequence[Sentence], pred: Sequence[Sentence]) -> str | None:
    """Why `pred` cannot line up with `gold` by position (None when it can)."""
    if len(pred) != len(gold):
        return f"{len(pred)} sentences against {len(gold)} in gold"
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if g.tokens != p.tokens:
            return f"sentence {i + 1} ({p.id!r}) has other tokens than gold sentence {i + 1} ({g.id!r})"
    return None


def align_to_gold(
    gold: Sequence[Sentence], pred: Sequence[Sentence], *, what: str = "predictions"
) -> tuple[list[Sentence], str]:
    """(predictions in gold order carrying the gold ids, "id" or "position").

    By id when the two files cover the same ids (tokens must then match, as in
    enpar.metrics.align_predictions); otherwise by position when counts and tokens agree; otherwise a
    DataError giving both reasons.
    """
    gold_ids = {s.id for s in gold}
    if {s.id for s in pred} == gold_ids and len(pred) == len(gold):
        return align_predictions(gold, pred, what=what), BY_ID
    problem = _position_problem(gold, pred)
    if problem is None:
        return [
            dataclasses.replace(p, id=g.id, doc_id=g.doc_id) for g, p in zip(gold, pred, strict=True)
        ], BY_POSITION
    try:
        align_predictions(gold, pred, what=what)
    except DataError as exc:
        by_id = exc.reason
    else:  # unreachable: the id sets differ or ids repeat
        by_id = "sentence ids do not match"
    raise DataError(f"{what} do not line up with gold: by id, {by_id}; by position, {problem}")
