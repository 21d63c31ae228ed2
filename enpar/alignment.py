"""Predictions matched to their gold sentences: by id (any order in the input), with clear errors for
missing, extra or duplicate ids and for sentences whose tokens differ; or, for files written by other
systems (SpERT, PURE, a unified JSON) whose ids the readers derive from the file name, by position when the
counts and tokens agree. Pure Python, like enpar.metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from enpar.schema import DataError, Sentence


def _by_id(sentences: Sequence[Sentence], what: str) -> dict[str, Sentence]:
    out: dict[str, Sentence] = {}
    for sent in sentences:
        if sent.id in out:
            raise DataError(f"duplicate sentence id {sent.id!r} in {what}")
        out[sent.id] = sent
    return out


def _preview(ids: Iterable[str]) -> str:
    ids = sorted(ids)
    shown = ", ".join(repr(i) for i in ids[:5])
    return f"{len(ids)} ({shown}{', ...' if len(ids) > 5 else ''})"


def align_predictions(
    gold: Sequence[Sentence], pred: Sequence[Sentence], *, what: str = "predictions"
) -> list[Sentence]:
    """Predictions reordered to the gold order, matched by sentence id (any order in the input).

    Raises DataError for duplicate, missing or extra ids and for sentences whose tokens differ.
    """
    gold_ids = _by_id(gold, "gold")
    by_id = _by_id(pred, what)
    missing, extra = set(gold_ids) - set(by_id), set(by_id) - set(gold_ids)
    if missing or extra:
        parts = [f"{_preview(missing)} gold sentence ids missing from {what}"] if missing else []
        parts += [f"{_preview(extra)} {what} sentence ids not in gold"] if extra else []
        raise DataError(f"gold and {what} do not cover the same sentences: " + "; ".join(parts))
    out = []
    for sent in gold:
        other = by_id[sent.id]
        if other.tokens != sent.tokens:
            pairs = zip(sent.tokens, other.tokens, strict=False)
            first = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(sent), len(other)))
            raise DataError(
                f"sentence {sent.id!r}: tokens differ between gold ({len(sent)} tokens) and {what} "
                f"({len(other)} tokens), first at token {first}"
            )
        out.append(other)
    return out


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
    align_predictions); otherwise by position when counts and tokens agree; otherwise a
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
