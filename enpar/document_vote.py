"""One type per mention string and document: a prediction-time step, on where enpar.decoding says so
(`Decoding.document_type_vote`, from the checkpoint's decoding.json or --document-type-vote).

Annotators type a term the same way wherever it recurs in an abstract (97.5% of SciERC train's repeated
mentions agree with their document's majority), while the entity head types each mention from its own
sentence. The vote gives every predicted mention of the same lower-cased words in one document the argmax
of the mentions' mean type distribution; relations keep their spans and labels and carry the new types.
Mentions are voted on only where they are predicted entities: the vote changes types, never spans.
"""

from __future__ import annotations

from collections.abc import Sequence

from enpar.schema import Entity, Relation, Sentence

Prediction = tuple[list[Entity], list[Relation]]


def mention_key(sentence: Sentence, entity: Entity) -> tuple[str, str]:
    """(document, lower-cased words); a sentence without a doc_id is a document of its own."""
    doc = f"doc:{sentence.doc_id}" if sentence.doc_id else f"sentence:{sentence.id}"
    return doc, " ".join(sentence.tokens[entity.start : entity.end]).lower()


def vote_document_types(
    sentences: Sequence[Sentence],
    predictions: Sequence[Prediction],
    type_probs: Sequence[Sequence[Sequence[float]]],
    types: Sequence[str],
) -> list[Prediction]:
    """`predictions` with each entity's type replaced by its group's vote.

    type_probs[i][j] is the distribution over `types` (the non-None entity labels, in the model's order) of
    predictions[i]'s j-th entity. A string predicted once in its document keeps its own argmax, which is its
    predicted type already.
    """
    if not (len(sentences) == len(predictions) == len(type_probs)):
        raise ValueError("sentences, predictions and type_probs must be aligned")
    totals: dict[tuple[str, str], list[float]] = {}
    for sent, (entities, _), probs in zip(sentences, predictions, type_probs, strict=True):
        if len(entities) != len(probs):
            raise ValueError(f"sentence {sent.id}: {len(entities)} entities, {len(probs)} type distributions")
        for ent, dist in zip(entities, probs, strict=True):
            if len(dist) != len(types):
                raise ValueError(f"sentence {sent.id}: {len(dist)} type probabilities, not {len(types)}")
            total = totals.setdefault(mention_key(sent, ent), [0.0] * len(types))
            for k, p in enumerate(dist):
                total[k] += p
    winner = {key: types[max(range(len(types)), key=total.__getitem__)] for key, total in totals.items()}

    voted: list[Prediction] = []
    for sent, (entities, relations) in zip(sentences, predictions, strict=True):
        new = {ent: Entity(ent.start, ent.end, winner[mention_key(sent, ent)]) for ent in entities}
        voted.append(
            (
                [new[e] for e in entities],
                [Relation(new.get(r.head, r.head), new.get(r.tail, r.tail), r.label) for r in relations],
            )
        )
    return voted
