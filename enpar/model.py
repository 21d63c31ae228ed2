"""The ENPAR network (spec section 2) and the joint extraction model of fine-tuning (spec section 4.1).

Shapes: B sentences, N words (padded), C encoder chunks of T word pieces, H encoder hidden size,
S spans, P span pairs. A span is a row [sentence, start, end) of a LongTensor (S, 3), in words.

    SentenceEncoder  any Hugging Face encoder; word vector = first sub-word's state (or mean) (B, N, H)
    SpanCNN          reversed span -> Conv1d per kernel (padding k) -> gelu -> max       (S, 100 * kernels)
    EntityEncoder    SpanCNN(2, 3, 4) -> FF(300 -> 192)                                  (S, 192)
    ContextEncoder   SpanCNN(3, 4, 5) -> FF(300 -> 128); an empty span is a learned vector
    PairEncoder      FF([c_L; e1; c_M; e2; c_R] = 128+192+128+192+128 -> 256)          (P, 256)
    EnparEncoder     the four above, state-dict prefixes encoder.{sentence,entity,context,pair}.*
    JointModel       EnparEncoder + tagger (BIEOU, or a BIEOU CRF) + entity typing + relation typing heads

FF(i -> o) = Linear -> gelu -> LayerNorm(eps 1e-12) -> Dropout, Linear weights N(0, 0.02), zero bias.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from enpar.config import (
    TAG_LOSSES,
    THRESHOLDS,
    WORD_POOLINGS,
    Labels,
    ModelConfig,
    parse_threshold,
)
from enpar.crf import TagCRF
from enpar.encoding import resolve_encoder
from enpar.schema import Entity, Relation
from enpar.tagging import O_ID, PAD_ID, TAGS, spans_from_ids, viterbi

if TYPE_CHECKING:
    from enpar.data import Batch, SoftTargets

Span = tuple[int, int]
# entity_boundary: width embeddings of 25 dims (SpERT's size); spans of 16 words or more share the last one
WIDTH_DIM, MAX_WIDTH_BUCKET = 25, 16


def _init_linear(linear: nn.Linear) -> nn.Linear:
    nn.init.normal_(linear.weight, std=0.02)
    nn.init.zeros_(linear.bias)
    return linear


class FF(nn.Module):
    """Linear -> gelu -> LayerNorm -> Dropout (the spec's FF; activation before the norm)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.linear = _init_linear(nn.Linear(in_dim, out_dim))
        self.norm = nn.LayerNorm(out_dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:  # (..., in) -> (..., out)
        return self.dropout(self.norm(F.gelu(self.linear(x))))


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


# --- sentence encoder -------------------------------------------------------------------------------


class SentenceEncoder(nn.Module):
    """A Hugging Face encoder read at each word's first sub-word (or the mean of its pieces), plus dropout.

    Long sentences arrive as several chunks (sliding windows, see enpar.data.collate); `word_index` says
    which flattened chunk position holds each word's first piece, so windows are invisible here."""

    def __init__(self, model: nn.Module, dropout: float = 0.1) -> None:
        super().__init__()
        self.model = model
        self.dropout = nn.Dropout(dropout)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @classmethod
    def from_pretrained(cls, name_or_path: str, dropout: float = 0.1) -> SentenceEncoder:
        from transformers import AutoModel

        path = resolve_encoder(name_or_path)
        with _quiet_transformers():  # the "unexpected pooler weights" report is expected noise
            try:  # the pooler is never used; leaving it out keeps DDP free of unused parameters
                model = AutoModel.from_pretrained(path, add_pooling_layer=False)
            except TypeError:
                model = AutoModel.from_pretrained(path)
        return cls(model, dropout)

    @classmethod
    def from_config(cls, hf_config: Any, dropout: float = 0.1) -> SentenceEncoder:
        """Same architecture, random weights (a checkpoint's state dict fills them in)."""
        from transformers import AutoModel

        try:
            model = AutoModel.from_config(hf_config, add_pooling_layer=False)
        except TypeError:
            model = AutoModel.from_config(hf_config)
        return cls(model, dropout)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        word_index: Tensor,
        word_mask: Tensor,
        pieces: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        """pieces = (piece_index, piece_word) of enpar.data.Batch: each word is the mean of its pieces'
        states (ModelConfig.word_pooling="mean"); None = its first piece's state (the paper)."""
        # input_ids, attention_mask: (C, T); word_index: (B, N) into the flattened C*T positions
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (C, T, H)
        flat = states.reshape(-1, states.shape[-1])
        if pieces is None:
            words = flat[word_index]  # (B, N, H)
        else:
            index, owner = pieces
            n_slots = word_index.numel()
            sums = flat.new_zeros(n_slots, flat.shape[-1]).index_add_(0, owner, flat[index])
            counts = torch.bincount(owner, minlength=n_slots).clamp(min=1).to(flat.dtype)
            words = (sums / counts.unsqueeze(-1)).view(*word_index.shape, -1)
        words = words * word_mask.unsqueeze(-1).to(words.dtype)  # padding words are exact zeros
        return self.dropout(words)


# --- span CNNs --------------------------------------------------------------------------------------


def _width_groups(widths: list[int], max_columns: int) -> list[list[int]]:
    """Span indices sorted by width and cut into groups whose (count x widest) stays under max_columns,
    so short spans are never padded to the longest span of the batch."""
    order = sorted(range(len(widths)), key=widths.__getitem__)
    groups: list[list[int]] = []
    current: list[int] = []
    for i in order:
        w = max(1, widths[i])
        if current and (len(current) + 1) * w > max_columns:
            groups.append(current)
            current = []
        current.append(i)
    if current:
        groups.append(current)
    return groups


class SpanCNN(nn.Module):
    """Span [st, ed) -> (h_{ed-1}, ..., h_st) (reversed, as in the authors' code) -> per kernel k:
    Conv1d(H -> channels, k, zero padding k on both sides) -> gelu -> max over all positions; concat; dropout.

    Padding k keeps an all-zero window, so each channel is max(gelu(b), windows touching the span) and extra
    zero columns never change the result: spans of one width group share one padded tensor exactly.

    Computed as "project, then gather": a convolution is a sum over its k taps of shifted projections
    W_j h, and one word lies in many spans (contexts overlap heavily), so every word of the batch is
    projected once by every tap in one matrix product, and each span only gathers and adds those rows.
    The weights stay ordinary Conv1d parameters; `reference_forward` is the literal convolution."""

    def __init__(
        self, in_dim: int, kernels: Sequence[int], channels: int, dropout: float, group_columns: int = 4096
    ) -> None:
        super().__init__()
        self.kernels = tuple(int(k) for k in kernels)
        self.channels = channels
        self.convs = nn.ModuleList(nn.Conv1d(in_dim, channels, k, padding=k) for k in self.kernels)
        self.output_dim = channels * len(self.kernels)
        self.group_columns = group_columns
        self.dropout = nn.Dropout(dropout)

    def forward(self, words: Tensor, spans: Tensor) -> Tensor:
        # words: (B, N, H); spans: (S, 3) -> (S, channels * len(kernels))
        if spans.shape[0] == 0:
            return words.new_zeros(0, self.output_dim)
        n_batch, n_words, hidden = words.shape
        kmax = max(self.kernels)
        flat = words.reshape(n_batch * n_words, hidden)
        # one small projection per (kernel, tap), plus a last all-zero row standing for the padding;
        # separate tensors keep the backward pass free of big zero-filled slice gradients
        taps = [
            [F.pad(F.linear(flat, conv.weight[:, :, j]), (0, 0, 0, 1)) for j in range(k)]
            for k, conv in zip(self.kernels, self.convs, strict=True)
        ]  # [kernel][tap]: (B*N + 1, C)
        pad_row = n_batch * n_words
        widths = (spans[:, 2] - spans[:, 1]).tolist()
        pieces: list[Tensor] = []
        order: list[int] = []
        for group in _width_groups(widths, self.group_columns):
            width = max(1, max(widths[i] for i in group))
            sel = spans[torch.tensor(group, device=spans.device)]  # (g, 3)
            offs = torch.arange(-kmax, width + kmax, device=spans.device)  # (W + 2kmax,) reversed positions
            valid = (offs >= 0) & (offs < (sel[:, 2:3] - sel[:, 1:2]))  # (g, W + 2kmax)
            # rows[:, kmax + i] = the flat index of h_{ed-1-i}; the zero row outside the span
            rows = torch.where(valid, sel[:, 0:1] * n_words + sel[:, 2:3] - 1 - offs, pad_row)
            feats = []
            for k, conv, proj in zip(self.kernels, self.convs, taps, strict=True):
                n_out, base = width + k + 1, kmax - k  # padding k on each side of W columns
                acc = F.embedding(rows[:, base : base + n_out], proj[0])  # (g, W+k+1, C)
                for j in range(1, k):
                    acc = acc + F.embedding(rows[:, base + j : base + j + n_out], proj[j])
                feats.append(F.gelu(acc + conv.bias).amax(dim=1))  # (g, C)
            pieces.append(torch.cat(feats, dim=-1))
            order.extend(group)
        out = torch.cat(pieces, dim=0)  # (S, out) in group order
        if order != sorted(order):
            inverse = torch.empty(len(order), dtype=torch.long)
            inverse[torch.tensor(order)] = torch.arange(len(order))
            out = out[inverse.to(out.device)]
        return self.dropout(out)

    def reference_forward(self, words: Tensor, spans: Tensor) -> Tensor:
        """The literal definition, one span at a time (tests compare forward against it)."""
        out = []
        for b, st, ed in spans.tolist():
            x = words[b, st:ed].flip(0).T.unsqueeze(0)  # (1, H, w), reversed
            if ed == st:
                x = words.new_zeros(1, words.shape[-1], 1)
            out.append(torch.cat([F.gelu(conv(x)).amax(dim=-1) for conv in self.convs], dim=-1))
        return self.dropout(torch.cat(out)) if out else words.new_zeros(0, self.output_dim)


class EntityEncoder(nn.Module):
    """Entity span -> SpanCNN(2, 3, 4 x 100) -> FF(300 -> 192)."""

    def __init__(self, in_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cnn = SpanCNN(
            in_dim, cfg.entity_kernels, cfg.entity_channels, cfg.dropout, cfg.cnn_group_columns
        )
        self.ff = FF(self.cnn.output_dim, cfg.entity_dim, cfg.dropout)
        self.output_dim = cfg.entity_dim

    def forward(self, words: Tensor, spans: Tensor) -> Tensor:  # (B, N, H), (S, 3) -> (S, 192)
        return self.ff(self.cnn(words, spans))


class ContextEncoder(nn.Module):
    """Context span -> SpanCNN(3, 4, 5 x 100) -> FF(300 -> 128), with three rules for an empty context:

    - "learned" (default): a learned 128-vector, zero at init, which is exactly FF(zero 300-vector) at init.
      The spec's rule (below) puts a constant vector through LayerNorm(eps 1e-12), whose gradient then
      scales by 1/sqrt(eps) = 1e6: the FF bias gradient reached a norm of 1e7 and gradient clipping then
      shrank every other gradient ~1e4-fold in the first steps. Same forward value at init, sane gradients.
    - "zero": FF(zero 300-vector), the authors' fine-tuning rule (spec 7.11), kept for parity.
    - "cnn": FF(CNN(empty span)) = FF(gelu(conv bias)), the authors' pre-training rule."""

    def __init__(self, in_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.empty_context not in ("learned", "zero", "cnn"):
            raise ValueError(f"empty_context must be 'learned', 'zero' or 'cnn', not {cfg.empty_context!r}")
        self.cnn = SpanCNN(
            in_dim, cfg.context_kernels, cfg.context_channels, cfg.dropout, cfg.cnn_group_columns
        )
        self.ff = FF(self.cnn.output_dim, cfg.context_dim, cfg.dropout)
        self.mode = cfg.empty_context
        if self.mode == "learned":
            self.empty = nn.Parameter(torch.zeros(cfg.context_dim))
        self.output_dim = cfg.context_dim

    def forward(self, words: Tensor, spans: Tensor) -> Tensor:  # (B, N, H), (S, 3) -> (S, 128)
        if self.mode == "cnn":
            return self.ff(self.cnn(words, spans))
        nonempty = spans[:, 2] > spans[:, 1]
        if self.mode == "zero":
            feats = words.new_zeros(spans.shape[0], self.cnn.output_dim)  # (S, 300)
            if bool(nonempty.any()):
                idx = nonempty.nonzero().squeeze(1)
                feats = feats.index_copy(0, idx, self.cnn(words, spans[idx]).to(feats.dtype))
            return self.ff(feats)
        out = self.empty.to(words.dtype).expand(spans.shape[0], -1)  # (S, 128)
        if bool(nonempty.any()):
            idx = nonempty.nonzero().squeeze(1)
            out = out.index_copy(0, idx, self.ff(self.cnn(words, spans[idx])).to(out.dtype))
        return out


class PairEncoder(nn.Module):
    """FF([c_L; h_e1; c_M; h_e2; c_R] -> 256), e1 being the left entity."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.input_dim = 3 * cfg.context_dim + 2 * cfg.entity_dim  # 128+192+128+192+128 = 768
        self.ff = FF(self.input_dim, cfg.pair_dim, cfg.dropout)
        self.output_dim = cfg.pair_dim

    def forward(
        self, left_ctx: Tensor, ent1: Tensor, mid_ctx: Tensor, ent2: Tensor, right_ctx: Tensor
    ) -> Tensor:
        return self.ff(torch.cat([left_ctx, ent1, mid_ctx, ent2, right_ctx], dim=-1))  # (P, 256)


def _unique_spans(spans: Tensor, n_words: int) -> tuple[Tensor, Tensor]:
    """Unique rows of spans (S, 3) and the inverse index (S,): contexts are encoded once per span."""
    base = n_words + 1
    keys = (spans[:, 0] * base + spans[:, 1]) * base + spans[:, 2]
    uniq, inverse = torch.unique(keys, return_inverse=True)
    rows = torch.stack([uniq // (base * base), (uniq // base) % base, uniq % base], dim=1)
    return rows, inverse


class EnparEncoder(nn.Module):
    """Everything ENPAR pre-trains: sentence, entity, context and pair encoders (no task heads)."""

    def __init__(self, sentence: SentenceEncoder, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.word_pooling not in WORD_POOLINGS:
            raise ValueError(f"word_pooling must be one of {list(WORD_POOLINGS)}, not {cfg.word_pooling!r}")
        self.config = cfg
        self.sentence = sentence
        self.entity = EntityEncoder(sentence.hidden_size, cfg)
        self.context = ContextEncoder(sentence.hidden_size, cfg)
        self.pair = PairEncoder(cfg)

    @classmethod
    def build(cls, cfg: ModelConfig, hf_config: Any = None) -> EnparEncoder:
        """With hf_config None, load the encoder's pre-trained weights (cfg.encoder); otherwise build the
        same architecture with random weights, to be filled from a checkpoint."""
        if hf_config is None:
            sentence = SentenceEncoder.from_pretrained(cfg.encoder, cfg.encoder_dropout)
        else:
            sentence = SentenceEncoder.from_config(hf_config, cfg.encoder_dropout)
        return cls(sentence, cfg)

    @property
    def hidden_size(self) -> int:
        return self.sentence.hidden_size

    def words(
        self, input_ids: Tensor, attention_mask: Tensor, word_index: Tensor, word_mask: Tensor
    ) -> Tensor:
        """(C, T) pieces -> (B, N, H) word vectors."""
        return self.sentence(input_ids, attention_mask, word_index, word_mask)

    def encode_batch(self, batch: Batch) -> Tensor:
        """Word vectors (B, N, H) of an enpar.data.Batch, pooled as ModelConfig.word_pooling says."""
        pieces = None
        if self.config.word_pooling == "mean":
            if batch.piece_index is None or batch.piece_word is None:
                raise ValueError("word_pooling='mean' needs the piece lists of enpar.data.collate")
            pieces = (batch.piece_index, batch.piece_word)
        return self.sentence(batch.input_ids, batch.attention_mask, batch.word_index, batch.word_mask, pieces)

    def entities(self, words: Tensor, spans: Tensor) -> Tensor:
        """(B, N, H), spans (S, 3) -> entity vectors (S, 192)."""
        return self.entity(words, spans)

    def contexts(self, words: Tensor, spans: Tensor) -> Tensor:
        """Context vectors (S, 128), each distinct span encoded once."""
        if spans.shape[0] == 0:
            return words.new_zeros(0, self.context.output_dim)
        rows, inverse = _unique_spans(spans, words.shape[1])
        return self.context(words, rows)[inverse]

    def pairs(
        self,
        words: Tensor,
        lengths: Tensor,
        left: Tensor,
        right: Tensor,
        left_vectors: Tensor | None = None,
        right_vectors: Tensor | None = None,
    ) -> Tensor:
        """Pair vectors (P, 256) for left (P, 3) and right (P, 3) entity spans of the same sentences, with
        left.start <= right.start. lengths (B,) = words per sentence. Contexts: L = [0, e1.st),
        M = [e1.ed, max(e1.ed, e2.st)) (empty when the two overlap), R = [e2.ed, n). Entity vectors are
        computed (once per distinct span) unless given."""
        if left.shape[0] == 0:
            return words.new_zeros(0, self.pair.output_dim)
        b = left[:, 0]
        n = lengths.to(left.device)[b]
        zero = torch.zeros_like(b)
        ctx_spans = torch.cat(
            [
                torch.stack([b, zero, left[:, 1]], dim=1),
                torch.stack([b, left[:, 2], torch.maximum(left[:, 2], right[:, 1])], dim=1),
                torch.stack([b, torch.minimum(right[:, 2], n), n], dim=1),
            ]
        )  # (3P, 3)
        ctx = self.contexts(words, ctx_spans)
        c_left, c_mid, c_right = ctx.chunk(3, dim=0)
        if left_vectors is None or right_vectors is None:
            rows, inverse = _unique_spans(torch.cat([left, right]), words.shape[1])
            ents = self.entities(words, rows)[inverse]
            left_vectors, right_vectors = ents.chunk(2, dim=0)
        return self.pair(c_left, left_vectors, c_mid, right_vectors, c_right)


# --- joint model (fine-tuning) ----------------------------------------------------------------------


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
    # set iff the gold carries a teacher's distributions (Gold.soft): the soft cross-entropy of the tags, the
    # entity candidates and the pair candidates that have one, summed like `loss`
    distill_loss: Tensor | None = None


class JointModel(nn.Module):
    """Span tagger -> typed entity candidates -> relation typing of every unordered candidate pair.

    Training (gold given): entity candidates = spans decoded from the gold tags (if the sentence's
    scheduled-sampling coin says gold) or from the predicted tags, plus all gold spans; relation candidates =
    all start-ordered pairs of the gold entities (second coin) or of the predicted non-None entities, plus all
    gold relation pairs. Prediction (no gold): predicted spans, their non-None types, and all their pairs.
    With `span_candidates` = k > 0 every span of at most k words is an entity candidate too (in training a
    sample of the non-gold ones, `span_negatives` per sentence, weighed as `span_negative_loss` says)."""

    def __init__(self, encoder: EnparEncoder, labels: Labels) -> None:
        super().__init__()
        parse_threshold("tag_decoder", encoder.config.tag_decoder)  # refuses an unknown decoder
        self.encoder = encoder
        self.labels = labels
        self.tagger = _init_linear(nn.Linear(encoder.hidden_size, len(TAGS)))
        if encoder.config.tag_loss not in TAG_LOSSES:
            raise ValueError(f"tag_loss must be one of {list(TAG_LOSSES)}, not {encoder.config.tag_loss!r}")
        self.crf = TagCRF() if encoder.config.tag_loss == "crf" else None
        head_in = encoder.entity.output_dim
        negative_loss = encoder.config.span_negative_loss
        if negative_loss not in ("pooled", "separate"):
            raise ValueError(f"span_negative_loss must be 'pooled' or 'separate', not {negative_loss!r}")
        if encoder.config.entity_boundary:
            self.width_embedding = nn.Embedding(MAX_WIDTH_BUCKET + 1, WIDTH_DIM)
            head_in += 2 * encoder.hidden_size + WIDTH_DIM
        self.entity_head = _init_linear(nn.Linear(head_in, len(labels.entity)))
        rel_in = encoder.pair.output_dim
        if encoder.config.relation_type_prior:
            n_ent = len(labels.entity)
            rel_in += 2 * n_ent + n_ent * n_ent
        self.relation_head = _init_linear(nn.Linear(rel_in, len(labels.relation)))

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
        n_sent = words.shape[0]
        tag_logits = self.tagger(words)  # (B, N, 6)
        gold = batch.gold
        lengths = batch.lengths
        pred_ids = self.tag_ids(tag_logits, lengths, predicting=gold is None)

        # entity candidates: per sentence a list of spans (a dict keeps them unique and ordered)
        cfg = self.config
        cand: list[dict[Span, int]] = []  # span -> gold label index (0 = None)
        sampled: list[set[Span]] = [set() for _ in range(n_sent)]  # enumerated negatives not otherwise there
        for b in range(n_sent):
            predicted = spans_from_ids(pred_ids[b][: lengths[b]])
            enumerated = enumerate_spans(lengths[b], cfg.span_candidates)
            if gold is None:
                cand.append(dict.fromkeys(predicted + enumerated, 0))
                continue
            g = gold[b]
            source = g.tag_spans if (gold_tags is not None and gold_tags[b]) else predicted
            spans = dict.fromkeys(source, 0)
            negatives = sample_negatives(enumerated, g.entities, cfg.span_negatives)
            sampled[b] = set(negatives) - spans.keys()
            spans.update(dict.fromkeys(negatives, 0))
            spans.update(g.entities)  # every gold span, with its label
            cand.append({s: g.entities.get(s, 0) for s in spans})
        span_rows = [(b, st, ed) for b in range(n_sent) for st, ed in cand[b]]
        device = words.device
        spans_t = torch.tensor(span_rows, dtype=torch.long, device=device).reshape(-1, 3)  # (S, 3)
        ent_vecs, entity_logits = self.entity_scores(words, spans_t)
        # prediction applies the decision threshold; training's candidates use the plain argmax
        ent_pred = self.entity_labels(entity_logits, 0.0 if gold is not None else None)

        # relation candidates: start-ordered pairs of an entity set, plus gold pairs
        row_of = {row: i for i, row in enumerate(span_rows)}
        predicted_entities: list[list[Span]] = [[] for _ in range(n_sent)]
        for (b, st, ed), label in zip(span_rows, ent_pred, strict=True):
            if label != 0:
                predicted_entities[b].append((st, ed))
        pair_rows: list[tuple[int, int]] = []
        pair_labels: list[int] = []
        pair_keys: list[tuple[int, Span, Span]] = []  # (sentence, left, right) per row of pair_rows
        for b in range(n_sent):
            use_gold = gold is not None and gold_entities is not None and gold_entities[b]
            ents = gold[b].entities if use_gold else predicted_entities[b]  # type: ignore[index]
            pairs = dict.fromkeys(ordered_pairs(ents), 0)
            if gold is not None:
                pairs.update(gold[b].pairs)
                pairs = {p: gold[b].pairs.get(p, 0) for p in pairs}
            for (e1, e2), label in pairs.items():
                pair_rows.append((row_of[(b, *e1)], row_of[(b, *e2)]))
                pair_labels.append(label)
                pair_keys.append((b, e1, e2))
        pairs_t = torch.tensor(pair_rows, dtype=torch.long, device=device).reshape(-1, 2)  # (P, 2)
        relation_logits = self.relation_scores(words, lengths, spans_t, ent_vecs, entity_logits, pairs_t)
        out = JointOutput(tag_logits, spans_t, entity_logits, pairs_t, relation_logits, n_sent)
        if gold is not None:
            tag_gold = batch.tag_ids  # (B, N), PAD where there is no word
            if self.crf is not None:  # per word, like the cross-entropy, so the three losses keep their scale
                out.tag_loss = self.crf.nll(tag_logits, tag_gold) / (tag_gold != PAD_ID).sum().clamp(min=1)
            else:
                out.tag_loss = F.cross_entropy(
                    tag_logits.float().reshape(-1, len(TAGS)), tag_gold.reshape(-1), ignore_index=PAD_ID
                )
            ent_gold = torch.tensor(
                [cand[b][(st, ed)] for b, st, ed in span_rows], dtype=torch.long, device=device
            )
            out.entity_loss = self._entity_loss(entity_logits, ent_gold, span_rows, sampled)
            out.relation_loss = _mean_ce(
                relation_logits, torch.tensor(pair_labels, dtype=torch.long, device=device)
            )
            out.loss = out.tag_loss + out.entity_loss + out.relation_loss  # unweighted sum (spec 4.1)
            soft = [g.soft for g in gold]
            if any(s is not None for s in soft):
                out.distill_loss = self._distill_loss(out, soft, lengths, span_rows, pair_keys)
        return out

    def _distill_loss(
        self,
        out: JointOutput,
        soft: list[SoftTargets | None],
        lengths: list[int],
        span_rows: list[tuple[int, int, int]],
        pair_keys: list[tuple[int, Span, Span]],
    ) -> Tensor:
        """Soft cross-entropy against the teacher: every word's tags, plus the entity and pair candidates
        the teacher scored (others, e.g. the student's own odd spans, have the gold loss only)."""
        temps = {s.temperature for s in soft if s is not None}
        if len(temps) != 1:
            raise ValueError(f"teacher targets of several temperatures in one batch: {sorted(temps)}")
        temp = temps.pop()
        device = out.tag_logits.device
        tag_target = torch.zeros(out.tag_logits.shape, dtype=torch.float32, device=device)
        for b, s in enumerate(soft):
            if s is not None:
                tag_target[b, : lengths[b]] = torch.tensor(s.tags, dtype=torch.float32, device=device)
        words = tag_target.sum(-1) > 0
        ent_rows, ent_target, rel_rows, rel_target = [], [], [], []
        for i, (b, st, ed) in enumerate(span_rows):
            if (s := soft[b]) is not None and (st, ed) in s.entities:
                ent_rows.append(i)
                ent_target.append(s.entities[(st, ed)])
        for i, (b, e1, e2) in enumerate(pair_keys):
            if (s := soft[b]) is not None and (e1, e2) in s.pairs:
                rel_rows.append(i)
                rel_target.append(s.pairs[(e1, e2)])
        # Hinton et al.: both sides at the temperature, scaled by its square to keep the gradients' scale
        return temp**2 * (
            _soft_ce(out.tag_logits[words] / temp, tag_target[words])
            + _soft_ce(out.entity_logits[ent_rows] / temp, torch.tensor(ent_target, device=device))
            + _soft_ce(out.relation_logits[rel_rows] / temp, torch.tensor(rel_target, device=device))
        )

    # The stages of forward, public so that an ensemble (enpar.ensemble) can average between them.
    def tag_ids(self, tag_logits: Tensor, lengths: Sequence[int], *, predicting: bool) -> list[list[int]]:
        """Tag ids per word (B, N) from the tagger's scores: the argmax or the Viterbi path
        (`tag_decoder`); `predicting` adds the `tag_outside_bias` threshold (training decodes plainly)."""
        scores = tag_logits.detach().float().clone()
        scores[..., PAD_ID] = -math.inf
        if predicting and self.config.tag_outside_bias:
            scores[..., O_ID] += self.config.tag_outside_bias
        if self.config.tag_decoder == "viterbi":  # on the host: the chunker and the decoder are Python
            rows = scores.tolist()
            learned = self.crf.decode_scores() if self.crf is not None else {}
            return [viterbi(rows[b][: lengths[b]], **learned) for b in range(len(lengths))]
        return scores.argmax(-1).tolist()

    def entity_scores(self, words: Tensor, spans: Tensor) -> tuple[Tensor, Tensor]:
        """The entity vectors (S, 192) and entity-head logits (S, n_entity_labels) of spans (S, 3)."""
        ent_vecs = self.encoder.entities(words, spans)
        return ent_vecs, self.entity_head(self._entity_features(words, spans, ent_vecs))

    def relation_scores(
        self,
        words: Tensor,
        lengths: Sequence[int],
        spans: Tensor,
        ent_vecs: Tensor,
        entity_logits: Tensor,
        pairs: Tensor,
    ) -> Tensor:
        """Relation-head logits (P, n_relation_labels) of pairs (P, 2), rows of spans / ent_vecs."""
        lengths_t = torch.tensor(list(lengths), dtype=torch.long, device=words.device)
        left, right = pairs[:, 0], pairs[:, 1]
        pair_vecs = self.encoder.pairs(
            words, lengths_t, spans[left], spans[right], ent_vecs[left], ent_vecs[right]
        )  # (P, 256)
        return self.relation_head(self._relation_features(pair_vecs, entity_logits, pairs))

    def set_thresholds(self, **values: float | str | None) -> None:
        """Change prediction settings (THRESHOLDS: entity_none_bias, tag_outside_bias, tag_decoder,
        relation_none_bias, document_type_vote) in place; None keeps the current value."""
        unknown = set(values) - set(THRESHOLDS)
        if unknown:
            raise ValueError(f"unknown thresholds {sorted(unknown)}; known: {list(THRESHOLDS)}")
        changes = {k: parse_threshold(k, v) for k, v in values.items() if v is not None}
        self.encoder.config = replace(self.config, **changes)

    def entity_labels(self, logits: Tensor, none_bias: float | None = None) -> list[int]:
        """Predicted entity label per candidate: the argmax after adding `none_bias` (default: the config's
        entity_none_bias) to the None logit."""
        bias = self.config.entity_none_bias if none_bias is None else none_bias
        return _argmax_with_none_bias(logits, bias)

    def _entity_loss(
        self, logits: Tensor, target: Tensor, span_rows: list[tuple[int, int, int]], sampled: list[set[Span]]
    ) -> Tensor:
        """Mean cross-entropy over the candidates ("pooled"); with span_negative_loss "separate", the sampled
        enumerated negatives are averaged on their own and added, so that ~100 of them per sentence do not
        shrink the weight of typing the gold and tagger candidates."""
        if self.config.span_negative_loss == "pooled":
            return _mean_ce(logits, target)
        extra = torch.tensor([(st, ed) in sampled[b] for b, st, ed in span_rows], dtype=torch.bool)
        extra = extra.to(logits.device)
        loss = _mean_ce(logits[~extra], target[~extra])
        return loss + _mean_ce(logits[extra], target[extra]) if bool(extra.any()) else loss

    def _entity_features(self, words: Tensor, spans: Tensor, ent_vecs: Tensor) -> Tensor:
        """The entity head's input: the entity vectors, plus (entity_boundary) each span's first and last
        word vectors and its width embedding: (S, 192) or (S, 192 + 2H + 25)."""
        if not self.config.entity_boundary:
            return ent_vecs
        sent, start, end = spans.unbind(-1)
        width = self.width_embedding((end - start).clamp(max=MAX_WIDTH_BUCKET))
        parts = (ent_vecs, words[sent, start], words[sent, end - 1], width)
        return torch.cat([x.to(ent_vecs.dtype) for x in parts], dim=-1)

    def _relation_features(self, pair_vecs: Tensor, entity_logits: Tensor, pairs: Tensor) -> Tensor:
        """The relation head's input: the pair vectors, plus (relation_type_prior) the two arguments' type
        distributions p_l, p_r and their outer product: (P, 256) or (P, 256 + 2E + E*E). Detached, so the
        relation loss does not pull the entity head's typing."""
        if not self.config.relation_type_prior:
            return pair_vecs
        probs = entity_logits.detach().float().softmax(-1)  # (S, E)
        left, right = probs[pairs[:, 0]], probs[pairs[:, 1]]  # (P, E) each
        outer = (left.unsqueeze(2) * right.unsqueeze(1)).flatten(1)  # (P, E*E)
        return torch.cat([pair_vecs, torch.cat([left, right, outer], -1).to(pair_vecs.dtype)], dim=-1)

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
        rel_pred = _argmax_with_none_bias(out.relation_logits, self.config.relation_none_bias)
        for (li, ri), label in zip(out.pairs.tolist(), rel_pred, strict=True):
            if label == 0 or li not in typed or ri not in typed:
                continue
            rtype, _, direction = self.labels.relation[label].rpartition("@")
            head, tail = (typed[li], typed[ri]) if direction == ">" else (typed[ri], typed[li])
            result[spans[li][0]][1].append(Relation(head, tail, rtype))
        return result


def ordered_pairs(entities: Iterable[Span]) -> list[tuple[Span, Span]]:
    """The relation candidates among entity spans: every pair ordered by start (spans with the same start
    never pair), in sorted order."""
    ents = sorted(entities)
    return [(e1, e2) for i, e1 in enumerate(ents) for e2 in ents[i + 1 :] if e1[0] < e2[0]]


def enumerate_spans(n_words: int, max_width: int) -> list[Span]:
    """Every span [start, end) of 1..max_width words, by start then width (none when max_width is 0)."""
    return [(st, st + w) for st in range(n_words) for w in range(1, min(max_width, n_words - st) + 1)]


def sample_negatives(spans: list[Span], gold: dict[Span, int], limit: int) -> list[Span]:
    """The spans that are not gold, at most `limit` of them (0 = all) drawn uniformly with torch's RNG (so a
    seeded, resumed run draws the same ones), kept in their original order."""
    negatives = [s for s in spans if s not in gold]
    if limit and len(negatives) > limit:
        keep = sorted(torch.randperm(len(negatives))[:limit].tolist())
        negatives = [negatives[i] for i in keep]
    return negatives


def _argmax_with_none_bias(logits: Tensor, bias: float) -> list[int]:
    """Label per row: the argmax after adding `bias` to column 0 (the None class), a decision threshold."""
    scores = logits.detach().float()
    if bias:
        scores = scores.clone()
        scores[:, 0] += bias
    return scores.argmax(-1).tolist() if scores.shape[0] else []


def _soft_ce(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy against target distributions (rows); none gives an exact 0 that touches the head."""
    if target.numel() == 0:
        return logits.float().sum() * 0.0
    return -(target.float() * logits.float().log_softmax(-1)).sum(-1).mean()


def _mean_ce(logits: Tensor, target: Tensor) -> Tensor:
    """Mean cross-entropy; an empty candidate set contributes an exact 0 that still touches the head."""
    if target.numel() == 0:
        return logits.float().sum() * 0.0
    return F.cross_entropy(logits.float(), target)
