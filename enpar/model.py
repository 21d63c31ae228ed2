"""The joint extraction model of fine-tuning (spec section 4.1): the ENPAR network (enpar.encoders) plus
a BIEOU span tagger, an entity typing head and a relation typing head.

Shapes as in enpar.encoders: B sentences, N words, S spans (rows [sentence, start, end)), P span pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from enpar.config import Labels, ModelConfig

# the network's parts, importable from here as before (enpar.objectives, enpar.checkpoint, tests)
from enpar.encoders import FF as FF
from enpar.encoders import ContextEncoder as ContextEncoder
from enpar.encoders import EnparEncoder as EnparEncoder
from enpar.encoders import EntityEncoder as EntityEncoder
from enpar.encoders import PairEncoder as PairEncoder
from enpar.encoders import SentenceEncoder as SentenceEncoder
from enpar.encoders import SpanCNN as SpanCNN
from enpar.encoders import _init_linear as _init_linear
from enpar.schema import Entity, Relation
from enpar.tagging import PAD_ID, TAGS, spans_from_ids

if TYPE_CHECKING:
    from enpar.data import Batch, Gold

Span = tuple[int, int]


@dataclass
class JointOutput:
    """What JointModel.forward returns; the loss fields are set iff gold was given."""

    tag_logits: Tensor  # (B, N, 6) over TAGS
    spans: Tensor  # (S, 3) entity candidates [sentence, start, end)
    entity_logits: Tensor  # (S, n_entity_labels), index 0 = None
    pairs: Tensor  # (P, 2) rows of `spans`: left, right (left.start < right.start)
    relation_logits: Tensor  # (P, n_relation_labels), index 0 = None; 'TYPE@>' = left is the head
    n_sentences: int
    loss: Tensor | None = None
    tag_loss: Tensor | None = None
    entity_loss: Tensor | None = None
    relation_loss: Tensor | None = None


class JointModel(nn.Module):
    """Span tagger -> typed entity candidates -> relation typing of every unordered candidate pair.

    Training (gold given): entity candidates = spans decoded from the gold tags (if the sentence's
    scheduled-sampling coin says gold) or from the predicted tags, plus all gold spans; relation candidates =
    all start-ordered pairs of the gold entities (second coin) or of the predicted non-None entities, plus all
    gold relation pairs. Prediction (no gold): predicted spans, their non-None types, and all their pairs."""

    def __init__(self, encoder: EnparEncoder, labels: Labels) -> None:
        super().__init__()
        self.encoder = encoder
        self.labels = labels
        self.tagger = _init_linear(nn.Linear(encoder.hidden_size, len(TAGS)))
        self.entity_head = _init_linear(nn.Linear(encoder.entity.output_dim, len(labels.entity)))
        self.relation_head = _init_linear(nn.Linear(encoder.pair.output_dim, len(labels.relation)))

    @classmethod
    def build(cls, cfg: ModelConfig, labels: Labels, hf_config: Any = None) -> JointModel:
        return cls(EnparEncoder.build(cfg, hf_config), labels)

    @property
    def config(self) -> ModelConfig:
        return self.encoder.config

    def forward(
        self,
        batch: Batch,
        gold_tags: Sequence[bool] | None = None,
        gold_entities: Sequence[bool] | None = None,
    ) -> JointOutput:
        """gold_tags[b] / gold_entities[b]: the scheduled-sampling coins of sentence b (default: False, i.e.
        predictions + gold). Ignored when batch.gold is None."""
        words = self.encoder.encode_batch(batch)  # (B, N, H)
        tag_logits = self.tagger(words)  # (B, N, 6)
        gold, lengths, device = batch.gold, batch.lengths, words.device
        cand = entity_candidates(self.tag_ids(tag_logits, lengths), lengths, gold, gold_tags)
        span_rows = [(b, st, ed) for b in range(len(cand)) for st, ed in cand[b]]
        spans_t = torch.tensor(span_rows, dtype=torch.long, device=device).reshape(-1, 3)  # (S, 3)
        ent_vecs, entity_logits = self.entity_scores(words, spans_t)
        predicted = self.predicted_entities(span_rows, entity_logits, len(cand))
        pair_rows, pair_labels = pair_candidates(span_rows, predicted, gold, gold_entities)
        pairs_t = torch.tensor(pair_rows, dtype=torch.long, device=device).reshape(-1, 2)  # (P, 2)
        relation_logits = self.relation_scores(words, lengths, spans_t, ent_vecs, pairs_t)
        out = JointOutput(tag_logits, spans_t, entity_logits, pairs_t, relation_logits, len(cand))
        if gold is not None:
            ent_gold = [cand[b][(st, ed)] for b, st, ed in span_rows]
            self._add_losses(out, batch.tag_ids, ent_gold, pair_labels)
        return out

    def _add_losses(
        self, out: JointOutput, tag_gold: Tensor | None, ent_gold: list[int], pair_gold: list[int]
    ) -> None:
        """The three cross-entropies (tags per word, entity and relation candidates) and their sum."""
        assert tag_gold is not None  # (B, N), PAD where there is no word
        device = out.tag_logits.device
        out.tag_loss = F.cross_entropy(
            out.tag_logits.float().reshape(-1, len(TAGS)), tag_gold.reshape(-1), ignore_index=PAD_ID
        )
        out.entity_loss = _mean_ce(out.entity_logits, torch.tensor(ent_gold, dtype=torch.long, device=device))
        out.relation_loss = _mean_ce(
            out.relation_logits, torch.tensor(pair_gold, dtype=torch.long, device=device)
        )
        out.loss = out.tag_loss + out.entity_loss + out.relation_loss  # unweighted sum (spec 4.1)

    # The stages of forward, public so that an ensemble (enpar.ensemble) can average between them.
    def tag_ids(self, tag_logits: Tensor, lengths: Sequence[int]) -> list[list[int]]:
        """Tag ids per word (B, N) from the tagger's scores: each word's argmax tag (padding excluded)."""
        scores = tag_logits.detach().float().clone()
        scores[..., PAD_ID] = -torch.inf
        return scores.argmax(-1).tolist()

    def entity_scores(self, words: Tensor, spans: Tensor) -> tuple[Tensor, Tensor]:
        """The entity vectors (S, 192) and entity-head logits (S, n_entity_labels) of spans (S, 3)."""
        ent_vecs = self.encoder.entities(words, spans)
        return ent_vecs, self.entity_head(ent_vecs)

    def relation_scores(
        self, words: Tensor, lengths: Sequence[int], spans: Tensor, ent_vecs: Tensor, pairs: Tensor
    ) -> Tensor:
        """Relation-head logits (P, n_relation_labels) of pairs (P, 2), rows of spans / ent_vecs."""
        lengths_t = torch.tensor(list(lengths), dtype=torch.long, device=words.device)
        left, right = pairs[:, 0], pairs[:, 1]
        pair_vecs = self.encoder.pairs(
            words, lengths_t, spans[left], spans[right], ent_vecs[left], ent_vecs[right]
        )  # (P, 256)
        return self.relation_head(pair_vecs)

    def predicted_entities(
        self, span_rows: Sequence[tuple[int, int, int]], entity_logits: Tensor, n_sentences: int
    ) -> list[list[Span]]:
        """Per sentence, the candidate spans (rows b, start, end) whose predicted type is not None."""
        predicted: list[list[Span]] = [[] for _ in range(n_sentences)]
        for (b, st, ed), label in zip(span_rows, self.entity_labels(entity_logits), strict=True):
            if label != 0:
                predicted[b].append((st, ed))
        return predicted

    def entity_labels(self, logits: Tensor) -> list[int]:
        """Predicted entity label per candidate: the argmax of its logits (0 = None)."""
        return _argmax(logits)

    def decode(self, out: JointOutput) -> list[tuple[list[Entity], list[Relation]]]:
        """Per sentence: entities whose predicted type is not None, and relations whose predicted label is
        not None, restored to head -> tail order from the direction suffix."""
        return [(ents, rels) for ents, rels, _ in self._decode(out, with_probs=False)]

    def decode_with_type_probs(
        self, out: JointOutput
    ) -> list[tuple[list[Entity], list[Relation], list[list[float]]]]:
        """`decode`, plus each predicted entity's distribution over the non-None types (the entity head's
        softmax without the None column, renormalised), in the order of its entities."""
        return self._decode(out, with_probs=True)

    def _decode(
        self, out: JointOutput, *, with_probs: bool
    ) -> list[tuple[list[Entity], list[Relation], list[list[float]]]]:
        spans = out.spans.tolist()
        ent_pred = self.entity_labels(out.entity_logits)
        type_probs = out.entity_logits.detach().float()[:, 1:].softmax(-1).tolist() if with_probs else []
        result: list[tuple[list[Entity], list[Relation], list[list[float]]]] = [
            ([], [], []) for _ in range(out.n_sentences)
        ]
        typed: dict[int, Entity] = {}
        for i, ((b, st, ed), label) in enumerate(zip(spans, ent_pred, strict=True)):
            if label != 0:
                typed[i] = Entity(st, ed, self.labels.entity[label])
                result[b][0].append(typed[i])
                if with_probs:
                    result[b][2].append(type_probs[i])
        for (li, ri), label in zip(out.pairs.tolist(), _argmax(out.relation_logits), strict=True):
            if label == 0 or li not in typed or ri not in typed:
                continue
            rtype, _, direction = self.labels.relation[label].rpartition("@")
            head, tail = (typed[li], typed[ri]) if direction == ">" else (typed[ri], typed[li])
            result[spans[li][0]][1].append(Relation(head, tail, rtype))
        return result


def entity_candidates(
    pred_ids: list[list[int]],
    lengths: Sequence[int],
    gold: Sequence[Gold] | None,
    gold_tags: Sequence[bool] | None,
) -> list[dict[Span, int]]:
    """Per sentence, the entity candidates -> gold label index (0 = None; a dict keeps them unique and in
    order): the predicted spans, or in training the spans of the gold tags (coin) or the predicted ones,
    plus every gold span."""
    cand: list[dict[Span, int]] = []
    for b, n in enumerate(lengths):
        predicted = spans_from_ids(pred_ids[b][:n])
        if gold is None:
            cand.append(dict.fromkeys(predicted, 0))
            continue
        g = gold[b]
        spans = dict.fromkeys(g.tag_spans if (gold_tags is not None and gold_tags[b]) else predicted, 0)
        spans.update(g.entities)  # every gold span, with its label
        cand.append({s: g.entities.get(s, 0) for s in spans})
    return cand


def pair_candidates(
    span_rows: list[tuple[int, int, int]],
    predicted: list[list[Span]],
    gold: Sequence[Gold] | None,
    gold_entities: Sequence[bool] | None,
) -> tuple[list[tuple[int, int]], list[int]]:
    """Relation candidates as rows of span_rows (left, right) with their gold labels (0 without gold):
    start-ordered pairs of the predicted entities, or in training of the gold ones (coin), plus every
    gold pair."""
    row_of = {row: i for i, row in enumerate(span_rows)}
    pair_rows: list[tuple[int, int]] = []
    pair_labels: list[int] = []
    for b, ents in enumerate(predicted):
        use_gold = gold is not None and gold_entities is not None and gold_entities[b]
        pairs = dict.fromkeys(ordered_pairs(gold[b].entities if use_gold else ents), 0)  # type: ignore[index]
        if gold is not None:
            pairs.update(gold[b].pairs)
            pairs = {p: gold[b].pairs.get(p, 0) for p in pairs}
        for (e1, e2), label in pairs.items():
            pair_rows.append((row_of[(b, *e1)], row_of[(b, *e2)]))
            pair_labels.append(label)
    return pair_rows, pair_labels


def ordered_pairs(entities: Iterable[Span]) -> list[tuple[Span, Span]]:
    """The relation candidates among entity spans: every pair ordered by start (spans with the same start
    never pair), in sorted order."""
    ents = sorted(entities)
    return [(e1, e2) for i, e1 in enumerate(ents) for e2 in ents[i + 1 :] if e1[0] < e2[0]]


def _argmax(logits: Tensor) -> list[int]:
    """Label per row: the argmax (index 0 = None)."""
    return logits.detach().float().argmax(-1).tolist() if logits.shape[0] else []


def _mean_ce(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy; an empty candidate set contributes an exact 0 that still touches the head."""
    if target.numel() == 0:
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits.float(), target)
