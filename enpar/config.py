"""Every model and fine-tuning setting as a dataclass field; saved with each checkpoint and run.

Defaults are the paper's / the authors' code (spec sections 2 and 4.4) except where section 7 recommends
another reading; those fields say so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any, Self, TypeVar

T = TypeVar("T")
# Options measured on SciERC dev and not adopted (README "Tuning on dev", docs/experiments.md); they left
# the code after commit b27d68b, which still has them. An old run or checkpoint config that names one
# still loads while it holds the value below (the paper's, i.e. the option was off); any other value
# is refused, since this code cannot reproduce what it did.
REMOVED_OPTIONS: dict[str, dict[str, Any]] = {
    "ModelConfig": {
        "span_candidates": 0,
        "span_negatives": 100,
        "span_negative_loss": "pooled",
        "entity_none_bias": 0.0,
        "tag_outside_bias": 0.0,
        "relation_none_bias": 0.0,
        "tag_decoder": "lenient",
        "tag_loss": "softmax",
        "entity_boundary": False,
        "relation_type_prior": False,
        "context_words": 0,
        "word_pooling": "first",
    },
    "FinetuneConfig": {"head_lr": None, "ema_decay": 0.0, "teacher": None, "distill_weight": 0.0},
}
# Decoding settings that older checkpoints kept in their model config; now enpar.decoding reads them
# (from decoding.json, or from such an old config where there is no decoding.json).
MOVED_TO_DECODING = ("document_type_vote",)
REMOVED_IN = "b27d68b"


def _drop_removed(cls_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """`data` without the removed options, which must hold their paper value (ValueError otherwise)."""
    removed = REMOVED_OPTIONS.get(cls_name, {})
    moved = MOVED_TO_DECODING if cls_name == "ModelConfig" else ()
    for key in set(data) & set(removed):
        if data[key] != removed[key]:
            raise ValueError(
                f"{cls_name}: option {key!r} = {data[key]!r} was not adopted and has been removed "
                f"(it was {removed[key]!r} by default; commit {REMOVED_IN} still has it)"
            )
    return {k: v for k, v in data.items() if k not in removed and k not in moved}


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a config from a dict, refusing unknown keys (a typo must not pass silently); missing keys
    take the defaults, and removed options at their paper value are ignored, so older run folders and
    checkpoints still load."""
    data = _drop_removed(cls.__name__, data)
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
    bf16: bool = True  # autocast on GPU; ignored on CPU


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


# With --init the network comes from the pre-trained checkpoint. These ModelConfig fields are always
# the run's own (dropout, performance: what they were before the --init fix too); the empty-context rule
# applies on top where asked for (an `empty` vector missing from the checkpoint starts at zero); any
# other field asked for must equal the checkpoint's.
INIT_RUN_FIELDS = ("encoder_dropout", "dropout", "max_pieces", "cnn_group_columns")
INIT_OPTIONAL_FIELDS = ("empty_context",)


def init_model_config(
    pretrained: ModelConfig, wanted: ModelConfig, requested: Collection[str], init: str
) -> ModelConfig:
    """The model config of a run started from a pre-trained checkpoint: the checkpoint's network with
    this run's INIT_RUN_FIELDS, and its INIT_OPTIONAL_FIELDS where `requested`; any other requested
    field must equal the checkpoint's, since its weights fix it (ValueError naming the field)."""
    own = set(INIT_RUN_FIELDS) | (set(requested) & set(INIT_OPTIONAL_FIELDS))
    for name in sorted(set(requested) - own):
        mine, theirs = getattr(wanted, name), getattr(pretrained, name)
        if mine != theirs:
            raise ValueError(
                f"--init {init}: {name}={mine!r} was asked for, but the pre-trained checkpoint has "
                f"{name}={theirs!r}; its network comes from the checkpoint (a run may change only "
                f"{', '.join(INIT_RUN_FIELDS + INIT_OPTIONAL_FIELDS)})"
            )
    return replace(pretrained, **{name: getattr(wanted, name) for name in sorted(own)})
