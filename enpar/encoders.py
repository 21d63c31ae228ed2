"""The ENPAR network (spec section 2): everything pre-training trains and fine-tuning starts from.

Shapes: B sentences, N words (padded), C encoder chunks of T word pieces, H encoder hidden size,
S spans, P span pairs. A span is a row [sentence, start, end) of a LongTensor (S, 3), in words.

    SentenceEncoder  any Hugging Face encoder; word vector = its first sub-word's state    (B, N, H)
    SpanCNN          reversed span -> Conv1d per kernel (padding k) -> gelu -> max       (S, 100 * kernels)
    EntityEncoder    SpanCNN(2, 3, 4) -> FF(300 -> 192)                                  (S, 192)
    ContextEncoder   SpanCNN(3, 4, 5) -> FF(300 -> 128); an empty span is a learned vector
    PairEncoder      FF([c_L; e1; c_M; e2; c_R] = 128+192+128+192+128 -> 256)          (P, 256)
    EnparEncoder     the four above, state-dict prefixes encoder.{sentence,entity,context,pair}.*

FF(i -> o) = Linear -> gelu -> LayerNorm(eps 1e-12) -> Dropout, Linear weights N(0, 0.02), zero bias.
The task heads of fine-tuning are in enpar.model, the pre-training objectives in enpar.objectives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from enpar.config import ModelConfig
from enpar.encoding import resolve_encoder

if TYPE_CHECKING:
    from enpar.data import Batch


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
    """A Hugging Face encoder read at each word's first sub-word, plus dropout.

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
    ) -> Tensor:
        # input_ids, attention_mask: (C, T); word_index: (B, N) into the flattened C*T positions
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (C, T, H)
        flat = states.reshape(-1, states.shape[-1])
        words = flat[word_index]  # (B, N, H)
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
        """Word vectors (B, N, H) of an enpar.data.Batch."""
        return self.sentence(batch.input_ids, batch.attention_mask, batch.word_index, batch.word_mask)

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
