"""Every model and fine-tuning setting as a dataclass field; saved with each checkpoint and run.

Defaults are the paper's / the authors' code (spec sections 2 and 4.4) except where section 7 recommends
another reading; those fields say so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self, TypeVar

T = TypeVar("T")
# ModelConfig fields that can be changed on a trained model to move its predictions (decision thresholds,
# the tag decoder and the document type vote, tuned on dev after training)
THRESHOLDS = (
    "entity_none_bias",
    "tag_outside_bias",
    "tag_decoder",
    "relation_none_bias",
    "document_type_vote",
)
TAG_DECODERS = ("lenient", "viterbi")
_TRUE, _FALSE = ("true", "on", "yes", "1"), ("false", "off", "no", "0")
TAG_LOSSES = ("softmax", "crf")
WORD_POOLINGS = ("first", "mean")


def parse_threshold(name: str, value: Any) -> float | str | bool:
    """A THRESHOLDS value as ModelConfig stores it, from the CLI or a tuning grid (strings allowed):
    tag_decoder a name, document_type_vote a bool ("on"/"off", "true"/"false"), the rest floats."""
    if name not in THRESHOLDS:
        raise ValueError(f"unknown threshold {name!r}; known: {list(THRESHOLDS)}")
    if name == "tag_decoder":
        if value not in TAG_DECODERS:
            raise ValueError(f"tag_decoder must be one of {list(TAG_DECODERS)}, not {value!r}")
        return str(value)
    if name == "document_type_vote":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word not in _TRUE + _FALSE:
            raise ValueError(f"document_type_vote must be on or off (true / false), not {value!r}")
        return word in _TRUE
    return float(value)


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config from a dict, refusing unknown keys (a typo must not pass silently); missing keys
    take the defaults, so older run folders still load."""
    names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown settings {sorted(unknown)}")
    kwargs = {}
    for key, value in data.items():
        if isinstance(value, list) and str(names[key].type).startswith("tuple"):
            value = tuple(value)  # JSON has no tuples
        kwargs[key] = value
    return cls(**kwargs)


class JsonConfig:
    """to_dict / from_dict for the settings dataclasses saved with runs and checkpoints."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class ModelConfig(JsonConfig):
    """The network (spec section 2): sentence encoder + span CNNs + FFs + heads."""

    encoder: str = "minilm"  # 'minilm' (embedded all-MiniLM-L6-v2), a local folder or a cached hub name
    encoder_dropout: float = 0.1  # extra dropout on encoder outputs (code: 0.1 fine-tuning, 0 pre-training)
    dropout: float = 0.1  # CNN outputs and every FF output
    entity_kernels: tuple[int, ...] = (2, 3, 4)
    entity_channels: int = 100
    entity_dim: int = 192
    context_kernels: tuple[int, ...] = (3, 4, 5)
    context_channels: int = 100
    context_dim: int = 128
    pair_dim: int = 256
    # Empty contexts (spec 7.11, unified across both stages): a learned vector, zero at init (= the code's
    # FF(zero vector) at init, without its 1e6-scaled LayerNorm gradient; see model.ContextEncoder).
    empty_context: str = "learned"  # "learned" | "zero" (fine-tuning code) | "cnn" (pre-training code)
    # Entity candidates (not in the paper): 0 = the tagger's spans only (the paper). k > 0 also makes every
    # span of at most k words a candidate for the entity head, as span-enumeration models (SpERT) do, for
    # the recall the tagger misses; in training, at most `span_negatives` of those that are not gold are
    # sampled per sentence (0 = all of them).
    span_candidates: int = 0
    span_negatives: int = 100
    # How those sampled negatives enter the entity loss: "pooled" = one mean over all candidates (SpERT);
    # "separate" = the mean over the gold and tagger candidates plus a mean over the sampled negatives.
    span_negative_loss: str = "pooled"
    # Prediction only (training is unaffected): added to the entity head's None logit before the argmax, a
    # decision threshold. "separate" weighs entities ~30x more than a pooled mean would, so the None class
    # needs such a shift back; tuned on dev after training (scripts/tune_threshold.py).
    entity_none_bias: float = 0.0
    # Prediction only: added to the span tagger's O logit before decoding; negative = more spans for the
    # entity head to type (the tagger bounds entity recall). Tuned on dev after training like the above.
    tag_outside_bias: float = 0.0
    # Prediction only: added to the relation head's None logit before the argmax; negative = more
    # relations (SpERT, the peer, thresholds its relation scores too). Tuned on dev after training.
    relation_none_bias: float = 0.0
    # Prediction only (not in the paper): True = predicted mentions with the same lower-cased words in one
    # document (doc_id; a sentence without one is its own document) all get one type, the argmax of their
    # mean type distribution (enpar.document_vote). Gold types are one per string and document for 97.5% of
    # SciERC train's repeated mentions. Chosen on dev after training like the thresholds above.
    document_type_vote: bool = False
    # How tag predictions become spans (training candidates and prediction): "lenient" = each word's
    # argmax tag, chunked by the spec's lenient rules (the paper); "viterbi" = the best-scoring *valid* BIEOU
    # sequence (enpar.tagging.viterbi). Can be switched on a trained checkpoint and chosen on dev.
    tag_decoder: str = "lenient"
    # How the span tagger is trained: "softmax" = a cross-entropy per word, the paper; "crf" = a linear-chain
    # CRF over valid BIEOU sequences (enpar.crf), whose learned transitions the viterbi decoder then uses.
    tag_loss: str = "softmax"
    # Entity typing features (not in the paper): False = the entity vector (span CNN) alone, the paper.
    # True = the entity head also sees the span's first and last word vectors and a learned width
    # embedding (the boundary representation of span models such as PURE); the pair encoder is unchanged.
    entity_boundary: bool = False
    # Relation typing features (not in the paper): False = the pair vector alone, the paper. True = the
    # relation head also sees both arguments' entity-type distributions (the entity head's softmax, detached)
    # and their outer product, i.e. a learned score per (left type, right type, relation) triple: the
    # type-compatibility prior that typed-marker models (PURE) get from the entity types.
    relation_type_prior: bool = False
    # Document context (not in the paper): 0 = each sentence is encoded alone, the paper. n > 0 = up to n
    # words of the same document on each side are encoded with it (cross-sentence context, as in PURE);
    # only the sentence's words are read (enpar.data policies). Costs encoder time in proportion.
    context_words: int = 0
    # Word vectors (not in the paper): "first" = each word's first sub-word state, the paper; "mean" = the
    # mean over all its pieces, so a word cut into many pieces (common for SciERC's terms) is read whole.
    word_pooling: str = "first"
    max_pieces: int | None = None  # pieces per encoder call incl. [CLS]/[SEP]; None = the encoder's limit
    # Performance only (no effect on results): spans are sorted by width and convolved in groups of at
    # most this many (span x padded width) columns, so one long context does not pad all the others.
    cnn_group_columns: int = 4096


@dataclass(frozen=True)
class FinetuneConfig(JsonConfig):
    """Joint fine-tuning (spec section 4)."""

    epochs: int = 200  # the paper's budget; the CLI's --epochs overrides it
    batch_size: int = 32
    eval_batch_size: int = 32
    lr: float = 2.5e-5
    # Non-encoder parameters (span CNNs, FFs, heads); None = `lr` (the paper). A higher rate lets freshly
    # initialised heads converge in a CPU-sized epoch budget (tuned on dev, see the README).
    head_lr: float | None = None
    layer_decay: float = 0.9  # encoder layer i gets lr * decay ** (n_layers - 1 - i)
    # Spec 7.15: the code leaves the embeddings at the top rate; we give them layer 0's rate ("layer0").
    embeddings_lr: str = "layer0"  # "layer0" | "top"
    weight_decay: float = 0.01
    no_decay_bias_norm: bool = True  # spec 7.10: exempt biases and LayerNorm weights (the code decays all)
    adam_eps: float = 1e-6
    adam_betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    warmup: float = 0.2  # fraction of the scheduled steps
    # The linear schedule spans this many epochs; None = `epochs` (the paper's code: always 200, so a
    # 200-epoch run is identical, and a shorter run still warms up and decays fully).
    schedule_epochs: int | None = None
    schedule_k: float = 3.0  # scheduled sampling: p(e) = k / (k + exp((e - pretrain_epochs) / k))
    pretrain_epochs: int = 5  # 0-based epochs e <= this always use gold candidates
    eval_from_epoch: int = 5  # 1-based: dev evaluation after epoch 5 onwards (and always after the last)
    patience: int = 100  # stop after this many dev evaluations without improvement
    seed: int = 5216
    # Speed (spec deviation, documented): training batches are drawn shuffled but of similar length, from
    # random pools of this many batches (enpar.data.bucketed_batches); 0 = the code's plain shuffle.
    length_pool: int = 20
    # Not in the paper: 0 = off; d > 0 keeps an exponential moving average of the weights (decay d per
    # optimizer step, torch.optim.swa_utils), which is what dev selects and the best checkpoint holds; the
    # raw weights' dev scores are logged beside it ("dev_raw") for a paired comparison.
    ema_decay: float = 0.0
    bf16: bool = True  # autocast on GPU; ignored on CPU
    # Distillation (not in the paper; enpar.distill): a teacher targets file and the weight w of its soft
    # cross-entropy, the loss being (1 - w) x the gold loss + w x that. None / 0 = off.
    teacher: str | None = None
    distill_weight: float = 0.0


@dataclass(frozen=True)
class Labels:
    """Label vocabularies; index 0 is always 'None' (no entity / no relation)."""

    entity: tuple[str, ...] = ("None",)
    relation: tuple[str, ...] = ("None",)  # 'TYPE@>' (head is the left span) / 'TYPE@<'

    def to_dict(self) -> dict[str, Any]:
        return {"entity": list(self.entity), "relation": list(self.relation)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Labels:
        ent, rel = tuple(data.get("entity", ())), tuple(data.get("relation", ()))
        if not ent or ent[0] != "None" or not rel or rel[0] != "None":
            raise ValueError("label vocabularies must start with 'None'")
        return cls(ent, rel)
