"""Several fine-tuned JointModels read as one: probabilities averaged at each stage of the data flow.

The members read the same batch; their tag distributions are averaged and decoded into spans, their
entity-type distributions over those spans are averaged and decoded into entities, and their relation
distributions over the pairs of those entities are averaged. Every stage is the lead member's own
(`JointModel.tag_ids`, `entity_scores`, `relation_scores`), so an ensemble of one model predicts exactly
what the model does, and decoding (thresholds, the document type vote) is the lead member's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from enpar.config import Labels, ModelConfig
from enpar.data import Batch
from enpar.model import JointModel, JointOutput, enumerate_spans, ordered_pairs
from enpar.schema import Entity, Relation
from enpar.tagging import spans_from_ids


def mean_log_probs(logits: Sequence[Tensor]) -> Tensor:
    """log of the mean of the members' softmax distributions (a logit-like tensor: its softmax is the
    mean distribution, and a None-logit bias still acts as a threshold on it)."""
    stacked = torch.stack([x.float().log_softmax(-1) for x in logits])
    return torch.logsumexp(stacked, dim=0) - math.log(len(logits))


class Ensemble(nn.Module):
    """Members of one label set; the first (the lead) decides the decoding settings."""

    def __init__(self, members: Sequence[JointModel]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one model")
        lead = members[0]
        for i, m in enumerate(members[1:], start=2):
            if m.labels != lead.labels:
                raise ValueError(
                    f"ensemble member {i} has other labels than member 1: {m.labels} vs {lead.labels}"
                )
        self.members = nn.ModuleList(members)

    @property
    def lead(self) -> JointModel:
        return self.members[0]  # type: ignore[return-value]

    @property
    def config(self) -> ModelConfig:
        return self.lead.config

    @property
    def labels(self) -> Labels:
        return self.lead.labels

    @property
    def encoder(self) -> Any:  # what Predictor reads the piece limit from
        return self.lead.encoder

    def set_thresholds(self, **values: float | str | None) -> None:
        for m in self.members:
            m.set_thresholds(**values)  # type: ignore[operator]

    def forward(self, batch: Batch) -> JointOutput:
        if batch.gold is not None:
            raise ValueError("an ensemble only predicts; train its members one by one")
        lead, members = self.lead, list(self.members)
        words = [m.encoder.encode_batch(batch) for m in members]  # type: ignore[union-attr]
        tag_logits = mean_log_probs([m.tagger(w) for m, w in zip(members, words, strict=True)])
        lengths = batch.lengths
        pred_ids = lead.tag_ids(tag_logits, lengths, predicting=True)
        span_rows = [
            (b, st, ed)
            for b, n in enumerate(lengths)
            for st, ed in dict.fromkeys(
                spans_from_ids(pred_ids[b][:n]) + enumerate_spans(n, self.config.span_candidates)
            )
        ]
        spans = torch.tensor(span_rows, dtype=torch.long, device=words[0].device).reshape(-1, 3)
        scored = [m.entity_scores(w, spans) for m, w in zip(members, words, strict=True)]  # type: ignore[operator]
        entity_logits = mean_log_probs([logits for _, logits in scored])

        row_of = {row: i for i, row in enumerate(span_rows)}
        entities: list[list[tuple[int, int]]] = [[] for _ in lengths]
        for (b, st, ed), label in zip(span_rows, lead.entity_labels(entity_logits), strict=True):
            if label != 0:
                entities[b].append((st, ed))
        pair_rows = [
            (row_of[(b, *e1)], row_of[(b, *e2)])
            for b in range(len(lengths))
            for e1, e2 in ordered_pairs(entities[b])
        ]
        pairs = torch.tensor(pair_rows, dtype=torch.long, device=spans.device).reshape(-1, 2)
        relation_logits = mean_log_probs(
            [
                m.relation_scores(w, lengths, spans, vecs, logits, pairs)  # type: ignore[operator]
                for m, w, (vecs, logits) in zip(members, words, scored, strict=True)
            ]
        )
        return JointOutput(tag_logits, spans, entity_logits, pairs, relation_logits, len(lengths))

    def decode(self, out: JointOutput) -> list[tuple[list[Entity], list[Relation]]]:
        return self.lead.decode(out)

    def decode_with_type_probs(
        self, out: JointOutput
    ) -> list[tuple[list[Entity], list[Relation], list[list[float]]]]:
        return self.lead.decode_with_type_probs(out)
