"""Several fine-tuned JointModels read as one: probabilities averaged at each stage of the data flow.

The members read the same batch; their tag distributions are averaged and decoded into spans, their
entity-type distributions over those spans are averaged and decoded into entities, and their relation
distributions over the pairs of those entities are averaged. Every stage is the lead member's own
(`JointModel.tag_ids`, `entity_scores`, `relation_scores`, `decode`), so an ensemble of one model predicts
exactly what the model does.

`load_extractor(paths)` is the one way inference loads checkpoints: one path gives the JointModel itself,
several an Ensemble, so the single-model path has no ensemble branches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from enpar.config import Labels, ModelConfig
from enpar.data import Batch
from enpar.model import JointModel, JointOutput, entity_candidates, pair_candidates
from enpar.schema import Entity, Relation


def mean_log_probs(logits: Sequence[Tensor]) -> Tensor:
    """log of the mean of the members' softmax distributions (a logit-like tensor: its softmax is the
    mean distribution, so decoding it by argmax decides on the mean distribution)."""
    stacked = torch.stack([x.float().log_softmax(-1) for x in logits])
    return torch.logsumexp(stacked, dim=0) - math.log(len(logits))


def members_of(model: nn.Module) -> list[JointModel]:
    """An Ensemble's members, or the one model."""
    return list(model.members) if isinstance(model, Ensemble) else [cast(JointModel, model)]


class Ensemble(nn.Module):
    """Members of one label set; the first (the lead) decodes."""

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

    def forward(self, batch: Batch) -> JointOutput:
        if batch.gold is not None:
            raise ValueError("an ensemble only predicts; train its members one by one")
        lead, members = self.lead, cast(list[JointModel], list(self.members))
        words = [m.encoder.encode_batch(batch) for m in members]
        lengths = batch.lengths
        tag_logits = mean_log_probs([m.tagger(w) for m, w in zip(members, words, strict=True)])
        cand = entity_candidates(lead.tag_ids(tag_logits, lengths), lengths, None, None)
        span_rows = [(b, st, ed) for b, spans in enumerate(cand) for st, ed in spans]
        spans_t = torch.tensor(span_rows, dtype=torch.long, device=words[0].device).reshape(-1, 3)
        scored = [m.entity_scores(w, spans_t) for m, w in zip(members, words, strict=True)]
        entity_logits = mean_log_probs([logits for _, logits in scored])
        entities = lead.predicted_entities(span_rows, entity_logits, len(lengths))
        pair_rows, _ = pair_candidates(span_rows, entities, None, None)
        pairs_t = torch.tensor(pair_rows, dtype=torch.long, device=spans_t.device).reshape(-1, 2)
        relation_logits = mean_log_probs(
            [
                m.relation_scores(w, lengths, spans_t, vecs, pairs_t)
                for m, w, (vecs, _) in zip(members, words, scored, strict=True)
            ]
        )
        return JointOutput(tag_logits, spans_t, entity_logits, pairs_t, relation_logits, len(lengths))

    def decode(self, out: JointOutput) -> list[tuple[list[Entity], list[Relation]]]:
        return self.lead.decode(out)

    def decode_with_type_probs(
        self, out: JointOutput
    ) -> list[tuple[list[Entity], list[Relation], list[list[float]]]]:
        return self.lead.decode_with_type_probs(out)


def load_extractor(
    paths: Sequence[str | Path],
) -> tuple[JointModel | Ensemble, Any, dict[str, Any]]:
    """The model that inference runs for one checkpoint (its JointModel) or several (an Ensemble), with
    the (lead) checkpoint's tokenizer and config.json. Several must share the tokenizer, the label sets
    and the piece limit (they read one input); CheckpointError names the one that differs."""
    from enpar.checkpoint import CheckpointError, load_joint_model

    if not paths:
        raise ValueError("no checkpoint given")
    loaded = [load_joint_model(p) for p in paths]
    (lead, lead_ckpt), tokenizer = loaded[0], loaded[0][1].tokenizer()
    for path, (model, ckpt) in zip(paths[1:], loaded[1:], strict=True):
        if model.config.max_pieces != lead.config.max_pieces:
            raise CheckpointError(path, f"max_pieces differs from {paths[0]}'s; an ensemble reads one input")
        if model.labels != lead.labels:
            raise CheckpointError(path, f"its labels differ from {paths[0]}'s")
        if ckpt.tokenizer().get_vocab() != tokenizer.get_vocab():
            raise CheckpointError(path, f"its tokenizer differs from {paths[0]}'s")
    model = lead if len(loaded) == 1 else Ensemble([m for m, _ in loaded])
    return model, tokenizer, lead_ckpt.config
