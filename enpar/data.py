"""Sentences -> word pieces, gold tags and candidates -> padded batches for JointModel.

Policies (stated here, applied everywhere):
- Long sentences: a sentence whose pieces do not fit one encoder call is cut into sliding windows
  (enpar.encoding.windows, stride half a window); each word's vector comes from the window where its first
  piece has the most context. Nothing is truncated or dropped, in training or evaluation.
- Nested / overlapping gold entities: the BIEOU training tags keep the longest non-overlapping spans
  (enpar.tagging.non_overlapping); the entity and relation candidates keep every gold span and relation,
  and evaluation always scores against the full gold.
- Document context (ModelConfig.context_words, off by default): up to that many words of the same
  document on each side of a sentence are encoded with it (PURE-style), trimmed to fit one encoder call
  (the nearest pieces kept); only the sentence's own words get vectors, spans and labels. A sentence without
  a doc_id, or one that needs sliding windows, is encoded alone.
- Relation labels: 'TYPE@>' when the head is the left span (spans ordered by (start, end)), 'TYPE@<'
  otherwise. A relation whose head and tail are the same span cannot be encoded and is left out of training
  (still in the gold for evaluation). Two gold relations on the same span pair: the first in sorted order
  is the training label (a classifier gives one label per pair).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from enpar.config import Labels
from enpar.encoding import WordPieces, best_window, windows, words_to_pieces
from enpar.schema import Relation, Sentence
from enpar.tagging import PAD_ID, bieou_ids, non_overlapping

Span = tuple[int, int]


def relation_key(rel: Relation) -> tuple[tuple[Span, Span], str] | None:
    """((left span, right span), 'TYPE@dir'); None when head and tail are the same span."""
    head, tail = rel.head.span, rel.tail.span
    if head == tail:
        return None
    if head < tail:
        return (head, tail), f"{rel.label}@>"
    return (tail, head), f"{rel.label}@<"


def build_labels(*datasets: Iterable[Sentence]) -> Labels:
    """Entity types and observed 'TYPE@dir' labels, sorted, after 'None' (index 0)."""
    ents: set[str] = set()
    rels: set[str] = set()
    for sentences in datasets:
        for sent in sentences:
            ents.update(e.label for e in sent.entities)
            for rel in sent.relations:
                key = relation_key(rel)
                if key is not None:
                    rels.add(key[1])
    return Labels(("None", *sorted(ents)), ("None", *sorted(rels)))


@dataclass(frozen=True)
class SoftTargets:
    """A teacher's distributions for one sentence (enpar.distill): per word over TAGS, per span over the
    entity labels, per start-ordered span pair over the relation labels (label order of Labels)."""

    tags: tuple[tuple[float, ...], ...]
    entities: dict[Span, tuple[float, ...]]
    pairs: dict[tuple[Span, Span], tuple[float, ...]]
    temperature: float = 1.0  # the teacher's logits were divided by it; the student's soft loss does the same


@dataclass(frozen=True)
class Gold:
    """A sentence's training targets: tags, typed spans and labelled start-ordered span pairs."""

    tags: tuple[int, ...]  # BIEOU ids per word
    tag_spans: tuple[Span, ...]  # what the tags encode (non-overlapping)
    entities: dict[Span, int]  # every gold span -> entity label index
    pairs: dict[tuple[Span, Span], int]  # (left, right) -> relation label index
    soft: SoftTargets | None = None  # a teacher's distributions, for distillation (FinetuneConfig.teacher)


def gold_for(sent: Sentence, labels: Labels) -> Gold:
    """Targets; labels outside the vocabulary are ignored (they cannot be predicted anyway)."""
    ent_index = {lab: i for i, lab in enumerate(labels.entity)}
    rel_index = {lab: i for i, lab in enumerate(labels.relation)}
    entities = {e.span: ent_index[e.label] for e in sorted(sent.entities) if e.label in ent_index}
    pairs: dict[tuple[Span, Span], int] = {}
    for rel in sorted(sent.relations):
        key = relation_key(rel)
        if key is None or key[1] not in rel_index or key[0] in pairs:
            continue
        if key[0][0] in entities and key[0][1] in entities:
            pairs[key[0]] = rel_index[key[1]]
    spans = [e.span for e in sent.entities]
    return Gold(tuple(bieou_ids(len(sent), spans)), tuple(non_overlapping(spans)), entities, pairs)


@dataclass(frozen=True)
class Example:
    sentence: Sentence
    pieces: WordPieces
    gold: Gold | None = None
    left: tuple[int, ...] = ()  # pieces of the document text before the sentence (context only)
    right: tuple[int, ...] = ()  # ... and after it

    def __len__(self) -> int:
        return len(self.pieces) + len(self.left) + len(self.right)


def document_contexts(
    sentences: Sequence[Sentence], words: int
) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per sentence, up to `words` words before and after it in its document: the sentences sharing its
    doc_id, in list order (the readers keep document order). No doc_id: no context."""
    out: list[tuple[tuple[str, ...], tuple[str, ...]]] = [((), ())] * len(sentences)
    if words <= 0:
        return out
    docs: dict[str, list[int]] = {}
    for i, sent in enumerate(sentences):
        if sent.doc_id:
            docs.setdefault(sent.doc_id, []).append(i)
    for members in docs.values():
        text = [w for i in members for w in sentences[i].tokens]
        offset = 0
        for i in members:
            end = offset + len(sentences[i])
            out[i] = (tuple(text[max(0, offset - words) : offset]), tuple(text[end : end + words]))
            offset = end
    return out


def _context_pieces(tokenizer: Any, texts: Sequence[tuple[str, ...]]) -> list[tuple[int, ...]]:
    """Word pieces of each context (empty contexts stay empty, without a tokenizer call)."""
    filled = [i for i, t in enumerate(texts) if t]
    pieces = words_to_pieces(tokenizer, [texts[i] for i in filled])
    out: list[tuple[int, ...]] = [()] * len(texts)
    for i, wp in zip(filled, pieces, strict=True):
        out[i] = wp.ids
    return out


def make_examples(
    sentences: Sequence[Sentence],
    tokenizer: Any,
    labels: Labels | None = None,
    context_words: int = 0,
) -> list[Example]:
    """Tokenise once (batched); with labels, also build the gold targets; with context_words > 0, also
    the document context on each side (see the module's policies)."""
    out: list[Example] = []
    contexts = document_contexts(sentences, context_words)
    step = 1024
    for i in range(0, len(sentences), step):
        part = sentences[i : i + step]
        pieces = words_to_pieces(tokenizer, [s.tokens for s in part])
        lefts = _context_pieces(tokenizer, [c[0] for c in contexts[i : i + step]])
        rights = _context_pieces(tokenizer, [c[1] for c in contexts[i : i + step]])
        for sent, wp, left, right in zip(part, pieces, lefts, rights, strict=True):
            gold = gold_for(sent, labels) if labels is not None else None
            out.append(Example(sent, wp, gold, left, right))
    return out


def context_coverage(examples: Sequence[Example]) -> str:
    """How many examples carry document context: sentences without a doc_id or neighbours get none."""
    with_context = sum(1 for ex in examples if ex.left or ex.right)
    return f"document context: {with_context} of {len(examples)} sentences have neighbouring text"


def fit_context(left: Sequence[int], right: Sequence[int], room: int) -> tuple[list[int], list[int]]:
    """The context pieces nearest the sentence that fit in `room`: half each side, and what one side
    does not use goes to the other."""
    room = max(0, room)
    n_left = min(len(left), max(room // 2, room - len(right)))
    n_right = min(len(right), room - n_left)
    return list(left[len(left) - n_left :]), list(right[:n_right])


def target_coverage(examples: Sequence[Example]) -> str:
    """What the training targets cannot hold, said out loud (evaluation always scores all gold): nested
    spans missing from the BIEOU tags (they stay entity candidates), and gold relations that share an
    entity pair with another one (one label per pair) or have a label outside the vocabulary."""
    n_ent = n_tagged = n_rel = n_pairs = 0
    for ex in examples:
        if ex.gold is None:
            continue
        n_ent += len({e.span for e in ex.sentence.entities})
        n_tagged += len(ex.gold.tag_spans)
        n_rel += len(set(ex.sentence.relations))
        n_pairs += len(ex.gold.pairs)
    return (
        f"targets: tags hold {n_tagged} of {n_ent} gold spans (nested ones stay candidates); "
        f"relation targets {n_pairs} of {n_rel} distinct gold relations (one label per entity pair)"
    )


@dataclass
class Batch:
    """Padded tensors for B sentences cut into C encoder chunks of T pieces."""

    input_ids: Tensor  # (C, T)
    attention_mask: Tensor  # (C, T)
    word_index: Tensor  # (B, N): flattened C*T position of each word's first piece
    word_mask: Tensor  # (B, N) bool
    lengths: list[int]  # words per sentence
    # Every piece of every word (for ModelConfig.word_pooling="mean"): flattened C*T positions (P,) and the
    # flattened B*N word each belongs to (P,). A window-cut word keeps the pieces inside its window.
    piece_index: Tensor | None = None
    piece_word: Tensor | None = None
    tag_ids: Tensor | None = None  # (B, N), PAD beyond each sentence
    gold: list[Gold] | None = None

    def to(self, device: torch.device | str) -> Batch:
        move = {
            k: getattr(self, k).to(device, non_blocking=True)
            for k in ("input_ids", "attention_mask", "word_index", "word_mask", "piece_index", "piece_word")
            if getattr(self, k) is not None
        }
        if self.tag_ids is not None:
            move["tag_ids"] = self.tag_ids.to(device, non_blocking=True)
        return replace(self, **move)


@dataclass(frozen=True)
class Specials:
    """The tokenizer's special ids and the encoder's piece limit (incl. the two specials)."""

    cls: int
    sep: int
    pad: int
    max_pieces: int

    @classmethod
    def of(cls, tokenizer: Any, max_pieces: int) -> Specials:
        cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        if cls_id is None or sep_id is None:
            raise ValueError("the tokenizer has no [CLS]/<s> or [SEP]/</s> token")
        if max_pieces < 3:
            raise ValueError("max_pieces must leave room for at least one piece")
        return cls(int(cls_id), int(sep_id), int(pad_id), int(max_pieces))


def collate(examples: Sequence[Example], specials: Specials, with_gold: bool = True) -> Batch:
    """Pad a list of examples into one Batch (sliding windows for sentences over the piece limit)."""
    window = specials.max_pieces - 2
    chunks: list[list[int]] = []
    # per sentence, per word: (chunk, position of its first piece in the chunk, its pieces in the chunk)
    locations: list[list[tuple[int, int, int]]] = []
    for ex in examples:
        n_pieces = len(ex.pieces.ids)
        ends = (*ex.pieces.starts[1:], n_pieces)
        if (ex.left or ex.right) and n_pieces <= window:
            left, right = fit_context(ex.left, ex.right, window - n_pieces)
            chunk = len(chunks)
            chunks.append([specials.cls, *left, *ex.pieces.ids, *right, specials.sep])
            locations.append(  # +1: [CLS]
                [(chunk, st + len(left) + 1, ed - st) for st, ed in zip(ex.pieces.starts, ends, strict=True)]
            )
            continue
        spans = windows(n_pieces, window)
        first_chunk = len(chunks)
        for a, b in spans:
            chunks.append([specials.cls, *ex.pieces.ids[a:b], specials.sep])
        locs = []
        for st, ed in zip(ex.pieces.starts, ends, strict=True):
            k = best_window(st, spans) if len(spans) > 1 else 0
            a, b = spans[k]
            locs.append((first_chunk + k, st - a + 1, min(ed, b) - st))  # +1: [CLS]
        locations.append(locs)
    n_chunks, width = len(chunks), max(len(c) for c in chunks)
    input_ids = torch.full((n_chunks, width), specials.pad, dtype=torch.long)
    attention = torch.zeros((n_chunks, width), dtype=torch.long)
    for i, c in enumerate(chunks):
        input_ids[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        attention[i, : len(c)] = 1
    lengths = [len(ex.sentence) for ex in examples]
    n_words = max(lengths)
    word_index = torch.zeros((len(examples), n_words), dtype=torch.long)
    word_mask = torch.zeros((len(examples), n_words), dtype=torch.bool)
    piece_index: list[int] = []
    piece_word: list[int] = []
    for b, locs in enumerate(locations):
        word_index[b, : len(locs)] = torch.tensor([c * width + p for c, p, _ in locs], dtype=torch.long)
        word_mask[b, : len(locs)] = True
        for w, (c, p, n) in enumerate(locs):
            piece_index.extend(range(c * width + p, c * width + p + n))
            piece_word.extend([b * n_words + w] * n)
    batch = Batch(
        input_ids,
        attention,
        word_index,
        word_mask,
        lengths,
        torch.tensor(piece_index, dtype=torch.long),
        torch.tensor(piece_word, dtype=torch.long),
    )
    if with_gold and all(ex.gold is not None for ex in examples):
        tags = torch.full((len(examples), n_words), PAD_ID, dtype=torch.long)
        for b, ex in enumerate(examples):
            tags[b, : len(ex.sentence)] = torch.tensor(ex.gold.tags, dtype=torch.long)  # type: ignore[union-attr]
        batch.tag_ids = tags
        batch.gold = [ex.gold for ex in examples]  # type: ignore[misc]
    return batch


def shuffled_batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices 0..n-1 shuffled and cut into batches (the last one may be short)."""
    order = list(range(n))
    rng.shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random, pool: int = 20
) -> list[list[int]]:
    """Shuffled batches of similar length: shuffle, cut into pools of `pool` batches, sort each pool by
    length, cut it into batches, shuffle the batch order. On SciERC this pads 1.1x the real pieces instead
    of 2.3x for plain shuffling, halving the encoder's cost. pool <= 1 is plain shuffling."""
    if pool <= 1:
        return shuffled_batches(len(lengths), batch_size, rng)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    step = batch_size * pool
    for start in range(0, len(order), step):
        chunk = sorted(order[start : start + step], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices sorted by length (longest first) and cut into batches: little padding at inference."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def iter_batches(
    examples: Sequence[Example],
    index_batches: Iterable[list[int]],
    specials: Specials,
    with_gold: bool = True,
) -> Iterator[tuple[list[int], Batch]]:
    for idx in index_batches:
        yield idx, collate([examples[i] for i in idx], specials, with_gold)
