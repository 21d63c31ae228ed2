"""Predictions matched to their gold sentences by id (any order in the input), with clear errors for
missing, extra or duplicate ids and for sentences whose tokens differ. Pure Python, like enpar.metrics."""

from __future__ import annotations

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
