"""The four ENPAR pre-training heads and losses (spec section 3), and the model that carries them.

    MET  entity encoder on every (corrupted) entity span -> Linear(192 -> 18 types) -> cross-entropy
    MEP  encoder states at the masked pieces -> FF'(H -> H, no dropout) -> logits tied to the input word
         embeddings + own bias -> cross-entropy (the code scores all positions; only the masked ones
         enter the loss, so scoring those alone gives the same loss at ~15% of the cost)
    PP   pair encoder on the permuted sentence -> Linear(256 -> 120) -> cross-entropy over all 120 orders
    ACD  pair encoder on negative and positive -> Linear(256 -> 1) scores; paper hinge
         [1 - s(pos) + s(neg)]_+, or the code's relu(5 - |s(neg) - s(pos)|) as a switch
    MLM  the control arm (alone): MEP's head shape over BERT-style masked pieces, initialised from the
         encoder's own MLM head where its checkpoint has one (BERT `cls.predictions.*`), else fresh

State-dict layout: `encoder.*` (an EnparEncoder, what fine-tuning loads) and `heads.<task>.*`; an MLM
model holds only `encoder.sentence.*` (the entity / pair encoders are never trained by MLM, so fine-tuning
from it initialises them as from plain BERT).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from enpar.encoders import FF, EnparEncoder, _init_linear
from enpar.pretrain_instances import MLM

if TYPE_CHECKING:
    from enpar.pretrain_data import TaskBatch

N_PERMUTATIONS = 120
# the encoder checkpoint's MLM head (BERT family) -> MepHead's parameter names
_BERT_MLM_HEAD = {
    "cls.predictions.transform.dense.weight": "transform.linear.weight",
    "cls.predictions.transform.dense.bias": "transform.linear.bias",
    "cls.predictions.transform.LayerNorm.weight": "transform.norm.weight",
    "cls.predictions.transform.LayerNorm.bias": "transform.norm.bias",
    "cls.predictions.bias": "bias",
}
ACD_FORMS = ("paper", "code")
ACD_DEFAULT_MARGIN = {"paper": 1.0, "code": 5.0}


def _zero_loss(like: Tensor) -> Tensor:
    """An exact 0 still attached to the graph (every head keeps a gradient, even if empty)."""
    return like.float().sum() * 0.0


class MetHead(nn.Module):
    """Entity vector -> entity type logits."""

    def __init__(self, entity_dim: int, n_labels: int) -> None:
        super().__init__()
        self.linear = _init_linear(nn.Linear(entity_dim, n_labels))

    def forward(self, entities: Tensor) -> Tensor:  # (S, 192) -> (S, n_labels)
        return self.linear(entities)

    @staticmethod
    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy over entities; label -1 (a type outside the head) is ignored."""
        if not bool((labels >= 0).any()):
            return _zero_loss(logits)
        return F.cross_entropy(logits.float(), labels, ignore_index=-1)


class MepHead(nn.Module):
    """FF'(H -> H) (Linear -> gelu -> LayerNorm, no dropout), then the tied word-embedding matrix + bias."""

    def __init__(self, hidden: int, vocab_size: int) -> None:
        super().__init__()
        self.transform = FF(hidden, hidden, dropout=0.0)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, states: Tensor, embeddings: Tensor) -> Tensor:  # (K, H), (V, H) -> (K, V)
        return F.linear(self.transform(states), embeddings, self.bias)

    @staticmethod
    def loss(logits: Tensor, targets: Tensor) -> Tensor:
        if targets.numel() == 0:
            return _zero_loss(logits)
        return F.cross_entropy(logits.float(), targets)


def load_mlm_head(head: MepHead, encoder_dir: str | Path) -> bool:
    """Copy the encoder checkpoint's own MLM head into `head` (its decoder is the tied word-embedding
    matrix, as here); False, head untouched, when the folder has no such weights (e.g. MiniLM)."""
    from safetensors import safe_open

    files = sorted(Path(encoder_dir).glob("*.safetensors")) if Path(encoder_dir).is_dir() else []
    found: dict[str, Tensor] = {}
    for f in files:
        with safe_open(str(f), "pt") as st:
            for key in st.keys():  # noqa: SIM118 - safe_open is not a dict
                name = key.removeprefix("bert.") if key.startswith("bert.cls.") else key
                if name in _BERT_MLM_HEAD:
                    found[_BERT_MLM_HEAD[name]] = st.get_tensor(key)
    own = head.state_dict()
    if set(found) != set(own) or any(found[k].shape != own[k].shape for k in own):
        return False
    head.load_state_dict(found)
    return True


class SentenceOnly(nn.Module):
    """The MLM arm's encoder: the sentence encoder alone, under the same `encoder.sentence.*` names."""

    def __init__(self, encoder: EnparEncoder) -> None:
        super().__init__()
        self.sentence = encoder.sentence

    @property
    def hidden_size(self) -> int:
        return self.sentence.hidden_size


class PpHead(nn.Module):
    """Pair vector -> logits over the 120 orders of (L, E1, M, E2, R)."""

    def __init__(self, pair_dim: int) -> None:
        super().__init__()
        self.linear = _init_linear(nn.Linear(pair_dim, N_PERMUTATIONS))

    def forward(self, pairs: Tensor) -> Tensor:  # (P, 256) -> (P, 120)
        return self.linear(pairs)

    @staticmethod
    def loss(logits: Tensor, labels: Tensor) -> Tensor:
        if labels.numel() == 0:
            return _zero_loss(logits)
        return F.cross_entropy(logits.float(), labels)  # over all 120 classes, not only the sampled


class AcdHead(nn.Module):
    """Pair vector -> a scalar "this context is real" score."""

    def __init__(self, pair_dim: int) -> None:
        super().__init__()
        self.linear = _init_linear(nn.Linear(pair_dim, 1))

    def forward(self, pairs: Tensor) -> Tensor:  # (P, 256) -> (P,)
        return self.linear(pairs).squeeze(-1)


def acd_loss(negative: Tensor, positive: Tensor, form: str = "paper", margin: float | None = None) -> Tensor:
    """paper: mean [margin - s(pos) + s(neg)]_+ (margin 1, directional: the real context must score
    higher); code: mean relu(margin - |s(neg) - s(pos)|) (margin 5, unsigned gap)."""
    if form not in ACD_FORMS:
        raise ValueError(f"ACD loss form must be one of {ACD_FORMS}, got {form!r}")
    if negative.numel() == 0:
        return _zero_loss(negative)
    m = ACD_DEFAULT_MARGIN[form] if margin is None else margin
    neg, pos = negative.float(), positive.float()
    if form == "paper":
        return F.relu(m - pos + neg).mean()
    return F.relu(m - (neg - pos).abs()).mean()


@dataclass
class TaskOutput:
    loss: Tensor
    accuracy: float  # MET/MEP/PP: argmax = gold; ACD: s(pos) > s(neg)
    count: int  # targets the loss averages over


class PretrainModel(nn.Module):
    """An EnparEncoder plus the heads of the selected objectives (a dropped objective has no head, so
    nothing in the model goes unused)."""

    def __init__(
        self,
        encoder: EnparEncoder,
        tasks: tuple[str, ...],
        n_labels: int,
        *,
        acd_form: str = "paper",
        acd_margin: float | None = None,
    ) -> None:
        super().__init__()
        if acd_form not in ACD_FORMS:
            raise ValueError(f"ACD loss form must be one of {ACD_FORMS}, got {acd_form!r}")
        if MLM in tasks and len(tasks) > 1:
            raise ValueError("the MLM control arm runs alone, not with the ENPAR objectives")
        self.encoder: EnparEncoder | SentenceOnly = SentenceOnly(encoder) if MLM in tasks else encoder
        self.tasks = tasks
        self.acd_form, self.acd_margin = acd_form, acd_margin
        heads: dict[str, nn.Module] = {}
        if "met" in tasks:
            heads["met"] = MetHead(encoder.entity.output_dim, n_labels)
        for masked in ("mep", MLM):
            if masked in tasks:
                heads[masked] = MepHead(encoder.hidden_size, self.word_embeddings.shape[0])
        if "pp" in tasks:
            heads["pp"] = PpHead(encoder.pair.output_dim)
        if "acd" in tasks:
            heads["acd"] = AcdHead(encoder.pair.output_dim)
        self.heads = nn.ModuleDict(heads)

    @property
    def word_embeddings(self) -> Tensor:
        """The encoder's input embedding matrix (V, H): MEP's output weight, tied, never copied."""
        return self.encoder.sentence.model.get_input_embeddings().weight

    def _words(self, tb: TaskBatch) -> Tensor:
        return self.encoder.encode_batch(tb.batch)

    def forward(self, tb: TaskBatch) -> TaskOutput:
        if tb.task not in self.heads:
            raise ValueError(f"objective {tb.task!r} is not part of this model ({self.tasks})")
        head = self.heads[tb.task]
        if tb.task == "met":
            logits = head(self.encoder.entities(self._words(tb), tb.spans))
            loss = MetHead.loss(logits, tb.labels)
            valid = tb.labels >= 0
            acc = (logits.argmax(-1)[valid] == tb.labels[valid]).float().mean() if bool(valid.any()) else None
            return TaskOutput(loss, float(acc) if acc is not None else 0.0, int(valid.sum()))
        if tb.task in ("mep", MLM):
            batch = tb.batch
            states = self.encoder.sentence.model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask
            ).last_hidden_state  # (C, T, H); no extra dropout on encoder states in pre-training
            picked = states[tb.positions[:, 0], tb.positions[:, 1]]  # (K, H)
            logits = head(picked, self.word_embeddings)
            loss = MepHead.loss(logits, tb.targets)
            acc = float((logits.argmax(-1) == tb.targets).float().mean()) if tb.targets.numel() else 0.0
            return TaskOutput(loss, acc, int(tb.targets.numel()))
        words = self._words(tb)
        lengths = torch.tensor(tb.batch.lengths, dtype=torch.long, device=words.device)
        pairs = self.encoder.pairs(words, lengths, tb.spans, tb.right)  # (P, 256) or (2P, 256) for ACD
        if tb.task == "pp":
            logits = head(pairs)
            acc = float((logits.argmax(-1) == tb.labels).float().mean()) if tb.labels.numel() else 0.0
            return TaskOutput(PpHead.loss(logits, tb.labels), acc, int(tb.labels.numel()))
        scores = head(pairs)
        negative, positive = scores[: tb.size], scores[tb.size :]
        loss = acd_loss(negative, positive, self.acd_form, self.acd_margin)
        acc = float((positive > negative).float().mean()) if tb.size else 0.0
        return TaskOutput(loss, acc, tb.size)
