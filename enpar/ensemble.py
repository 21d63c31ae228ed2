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
from typing import Any, cast

import torch
from torch import Tensor, nn

from enpar.config import Labels, ModelConfig
from enpar.data import Batch
from enpar.model import JointModel, JointOutput, enumerate_spans, ordered_pairs
from enpar.schema import Entity, Relation
from enpar.tagging import Span, spans_from_ids


def mean_log_probs(logits: Sequence[Tensor]) -> Tensor:
    """log of the mean of the members' softmax distributions (a logit-like tensor: its softmax is the
    mean distribution, and a None-logit bias still acts as a threshold on it)."""
    stacked = torch.stack([x.float().log_softmax(-1) for x in logits])
    return torch.logsumexp(stacked, dim=0) - math.log(len(logits))


def members_of(model: nn.Module) -> list[JointModel]:
    """An Ensemble's members, or the one model."""
    return list(model.members) if isinstance(model, Ensemble) else [cast(JointModel, model)]


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
        return cast(JointModel, self.members[0])

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
            cast(JointModel, m).set_thresholds(**values)

    def forward(self, batch: Batch) -> JointOutput:
        if batch.gold is not None:
            raise ValueError("an ensemble only predicts; train its members one by one (or use teach)")
        return self._run(batch, teach=False)

    def teach(self, batch: Batch, temperature: float = 1.0) -> JointOutput:
        """A teacher's view of a batch with gold (enpar.distill): the distributions over the predicted
        spans and the gold ones, and over every start-ordered pair of them plus the gold pairs (not only
        the pairs of predicted entities), so a student's likely candidates all have a target. The returned
        distributions are the members' softmax(logits / temperature), averaged; the spans are still
        decoded at temperature 1."""
        if batch.gold is None:
            raise ValueError("teach needs a batch with gold (collate(..., with_gold=True))")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, not {temperature}")
        return self._run(batch, teach=True, temperature=temperature)

    def _run(self, batch: Batch, *, teach: bool, temperature: float = 1.0) -> JointOutput:
        lead, members = self.lead, cast(list[JointModel], list(self.members))
        gold = batch.gold or []
        words = [m.encoder.encode_batch(batch) for m in members]
        member_tags = [m.tagger(w) for m, w in zip(members, words, strict=True)]
        lengths = batch.lengths
        tag_logits = mean_log_probs(member_tags)  # the decisions are taken at temperature 1
        pred_ids = lead.tag_ids(tag_logits, lengths, predicting=True)
        cand: list[list[Span]] = []
        for b, n in enumerate(lengths):
            spans = spans_from_ids(pred_ids[b][:n]) + enumerate_spans(n, self.config.span_candidates)
            cand.append(list(dict.fromkeys(spans + (list(gold[b].entities) if teach else []))))
        span_rows = [(b, st, ed) for b, spans in enumerate(cand) for st, ed in spans]
        spans_t = torch.tensor(span_rows, dtype=torch.long, device=words[0].device).reshape(-1, 3)
        scored = [m.entity_scores(w, spans_t) for m, w in zip(members, words, strict=True)]
        entity_logits = mean_log_probs([logits for _, logits in scored])

        if teach:
            pairs_of = [
                list(dict.fromkeys(ordered_pairs(spans) + list(gold[b].pairs)))
                for b, spans in enumerate(cand)
            ]
        else:
            entities: list[list[Span]] = [[] for _ in lengths]
            for (b, st, ed), label in zip(span_rows, lead.entity_labels(entity_logits), strict=True):
                if label != 0:
                    entities[b].append((st, ed))
            pairs_of = [ordered_pairs(ents) for ents in entities]
        row_of = {row: i for i, row in enumerate(span_rows)}
        pair_rows = [
            (row_of[(b, *e1)], row_of[(b, *e2)]) for b, pairs in enumerate(pairs_of) for e1, e2 in pairs
        ]
        pairs_t = torch.tensor(pair_rows, dtype=torch.long, device=spans_t.device).reshape(-1, 2)
        member_relations = [
            m.relation_scores(w, lengths, spans_t, vecs, logits, pairs_t)
            for m, w, (vecs, logits) in zip(members, words, scored, strict=True)
        ]

        def averaged(logits: list[Tensor], at_one: Tensor | None = None) -> Tensor:
            if temperature == 1.0 and at_one is not None:
                return at_one  # already averaged for the decisions
            return mean_log_probs([x.float() / temperature for x in logits])

        return JointOutput(
            averaged(member_tags, tag_logits),
            spans_t,
            averaged([logits for _, logits in scored], entity_logits),
            pairs_t,
            averaged(member_relations),
            len(lengths),
        )

    def decode(self, out: JointOutput) -> list[tuple[list[Entity], list[Relation]]]:
        return self.lead.decode(out)

    def decode_with_type_probs(
        self, out: JointOutput
    ) -> list[tuple[list[Entity], list[Relation], list[list[float]]]]:
        return self.lead.decode_with_type_probs(out)
