"""ENPAR pre-training instances, built on the fly from an entity-annotated corpus (spec sections 1.2 and 7).

    MET  masked entity typing: per entity 15% all pieces [MASK], 5% a random entity with as many pieces,
         else kept; every entity (full span, spec 7.4) is a typing target.
    MEP  masked entity prediction: BERT-style, whole entities up to a piece budget, 80/10/10.
    PP   permutation prediction: the parts (L, E1, M, E2, R) of an entity pair reordered; 120 classes, the
         permutations of (0..4) in lexicographic order (class 0 = identity); np per pair, gold included.
    ACD  adversarial (confused) context discrimination: (negative, positive) pairs; negatives swap E1 and E2
         or move E1 / E2 left or right past s = min(ns, available) words, correctly re-indexed (spec 7.6).

Reproducibility: every random choice for a sentence comes from random.Random(f"{seed}:{task}:{uid}:{epoch}"),
uid being the sentence's line number in the corpus, so an instance does not depend on which process builds
it or when. Nothing is written to disk: the corpus is re-read (lazily) each epoch.

Data parallelism: corpus lines are dealt to `n_streams` streams (line k -> stream k % n_streams); a process
only parses its own streams' lines. Each (stream, task) has its own instance iterator and shuffle buffer.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enpar.config import JsonConfig
from enpar.schema import DataError, sentence_from_json

TASKS: tuple[str, ...] = ("mep", "met", "pp", "acd")  # the code's order within a micro-step

# spaCy's 18 OntoNotes types in the order of the authors' entity_labels.json
SPACY_LABELS: tuple[str, ...] = (
    "CARDINAL", "DATE", "ORG", "PERSON", "NORP", "FAC", "GPE", "EVENT", "MONEY",
    "ORDINAL", "WORK_OF_ART", "LANGUAGE", "TIME", "PRODUCT", "LAW", "PERCENT", "LOC", "QUANTITY",
)  # fmt: skip

PERMUTATIONS: tuple[tuple[int, ...], ...] = tuple(itertools.permutations(range(5)))  # lexicographic
IDENTITY = 0
assert PERMUTATIONS[IDENTITY] == (0, 1, 2, 3, 4) and PERMUTATIONS[119] == (4, 3, 2, 1, 0)


@dataclass(frozen=True)
class PretrainDataConfig(JsonConfig):
    """Instance-building options; defaults follow the paper, or section 7's reading where they differ."""

    min_entities: int = 3  # paper; the authors' code used 2
    max_pieces: int = 256  # [CLS]/[SEP] included; also capped by the encoder's limit
    met_mask: float = 0.15
    met_random: float = 0.05
    mep_rate: float = 0.15  # budget B = min(mep_max, max(1, round(mep_rate * L)))
    mep_max: int = 20
    mep_mask: float = 0.8  # of the selected entities: 80% [MASK], 10% random, 10% kept
    mep_random: float = 0.1
    pp_entities: int = 5  # entities per sentence that form pairs (<= 10 pairs)
    pp_np: int = 5  # instances per pair, the gold order included
    acd_entities: int = 8  # <= 28 pairs
    acd_ns: int = 5  # shift entities by s = min(ns, available words)
    acd_mask_family: bool = False  # the code's progressive-mask negatives (not in the paper)
    shuffle_buffer: int = 2048  # instances; 0 = corpus order (the code never shuffles)
    pool_sentences: int = 50_000  # sentences scanned for the random-entity pool and the label set
    pool_per_length: int = 5_000  # mentions kept per piece length (reservoir, frequency-weighted)
    seed: int = 0


# --- sentences ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    """An annotated sentence with the pieces of every word."""

    uid: int  # line number in the corpus (0-based over all files): seeds its instances
    tokens: tuple[str, ...]
    pieces: tuple[tuple[int, ...], ...]  # per word, >= 1 piece each
    entities: tuple[tuple[int, int, int], ...]  # (start, end, label id), label -1 = not a typing class

    @property
    def n_pieces(self) -> int:
        return sum(len(p) for p in self.pieces)


@dataclass(frozen=True)
class Seq:
    """A word sequence and its pieces (no [CLS]/[SEP]); starts[i] = index of word i's first piece."""

    tokens: tuple[str, ...]
    ids: tuple[int, ...]
    starts: tuple[int, ...]


def _seq(enc: Encoded, order: Sequence[int], ids: Sequence[int] | None = None) -> Seq:
    """The sentence's words in `order` (word indices), optionally with corrupted piece ids."""
    tokens, starts, out_ids = [], [], []
    for w in order:
        starts.append(len(out_ids))
        tokens.append(enc.tokens[w])
        out_ids.extend(enc.pieces[w])
    if ids is not None:
        out_ids = list(ids)
    return Seq(tuple(tokens), tuple(out_ids), tuple(starts))


def _piece_range(enc: Encoded, start: int, end: int) -> tuple[int, int]:
    """Word span -> piece span [a, b) in the unpermuted sentence."""
    a = sum(len(p) for p in enc.pieces[:start])
    return a, a + sum(len(p) for p in enc.pieces[start:end])


@dataclass(frozen=True)
class MetInstance:
    seq: Seq
    spans: tuple[tuple[int, int], ...]  # every entity, full word span
    labels: tuple[int, ...]  # label ids (-1: ignored)


@dataclass(frozen=True)
class MepInstance:
    seq: Seq  # corrupted
    positions: tuple[int, ...]  # piece positions (no [CLS]) to predict
    targets: tuple[int, ...]  # their original ids


@dataclass(frozen=True)
class PpInstance:
    seq: Seq  # permuted
    spans: tuple[tuple[int, int], tuple[int, int]]  # the two entities, in their order in `seq`
    label: int  # index into PERMUTATIONS


@dataclass(frozen=True)
class AcdInstance:
    negative: Seq
    negative_spans: tuple[tuple[int, int], tuple[int, int]]  # left, right in the negative
    positive: Seq
    positive_spans: tuple[tuple[int, int], tuple[int, int]]
    family: str  # "swap" | "e1_left" | "e1_right" | "e2_left" | "e2_right" | "mask"


# --- the random-entity pool ---------------------------------------------------------------------------


class EntityPool:
    """Entity mentions' piece ids by piece length (the code's entity2tokens.json): a replacement keeps the
    sequence length, so every index stays valid. Duplicates are kept: sampling is frequency-weighted."""

    def __init__(self, by_length: dict[int, list[tuple[int, ...]]] | None = None) -> None:
        self.by_length = by_length or {}

    @classmethod
    def build(cls, sentences: Iterable[Encoded], per_length: int, seed: int) -> EntityPool:
        rng = random.Random(f"{seed}:pool")
        pool: dict[int, list[tuple[int, ...]]] = {}
        seen: dict[int, int] = {}
        for enc in sentences:
            for st, ed, _ in enc.entities:
                a, b = _piece_range(enc, st, ed)
                mention = tuple(itertools.chain.from_iterable(enc.pieces[st:ed]))
                n = b - a
                seen[n] = seen.get(n, 0) + 1
                bucket = pool.setdefault(n, [])
                if len(bucket) < per_length:
                    bucket.append(mention)
                else:  # reservoir sampling keeps a uniform sample of all mentions of this length
                    j = rng.randrange(seen[n])
                    if j < per_length:
                        bucket[j] = mention
        return cls(pool)

    def replace(self, original: Sequence[int], rng: random.Random, tries: int = 10) -> tuple[int, ...]:
        """A different mention of the same piece length; the original if none exists (spec 7.21: no retry
        on the same index)."""
        bucket = self.by_length.get(len(original))
        original = tuple(original)
        if bucket:
            for _ in range(tries):
                pick = bucket[rng.randrange(len(bucket))]
                if pick != original:
                    return pick
        return original


# --- instance builders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builders:
    """The four builders with what they share: options, the pool, the [MASK] id, the vocabulary size."""

    config: PretrainDataConfig
    pool: EntityPool
    mask_id: int
    vocab_size: int

    def rng(self, task: str, enc: Encoded, epoch: int) -> random.Random:
        return random.Random(f"{self.config.seed}:{task}:{enc.uid}:{epoch}")

    def build(self, task: str, enc: Encoded, epoch: int) -> list[Any]:
        rng = self.rng(task, enc, epoch)
        if task == "met":
            return [self.met(enc, rng)]
        if task == "mep":
            inst = self.mep(enc, rng)
            return [inst] if inst is not None else []
        if task == "pp":
            return self.pp(enc, rng)
        if task == "acd":
            return self.acd(enc, rng)
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")

    def met(self, enc: Encoded, rng: random.Random) -> MetInstance:
        cfg = self.config
        ids = list(itertools.chain.from_iterable(enc.pieces))
        for st, ed, _ in enc.entities:  # one independent draw per entity
            a, b = _piece_range(enc, st, ed)
            r = rng.random()
            if r < cfg.met_mask:
                ids[a:b] = [self.mask_id] * (b - a)
            elif r < cfg.met_mask + cfg.met_random:
                ids[a:b] = self.pool.replace(ids[a:b], rng)
        spans = tuple((st, ed) for st, ed, _ in enc.entities)
        labels = tuple(lab for _, _, lab in enc.entities)
        return MetInstance(_seq(enc, range(len(enc.tokens)), ids), spans, labels)

    def mep(self, enc: Encoded, rng: random.Random) -> MepInstance | None:
        cfg = self.config
        ids = list(itertools.chain.from_iterable(enc.pieces))
        budget = min(cfg.mep_max, max(1, round(cfg.mep_rate * (len(ids) + 2))))  # L counts [CLS]/[SEP]
        order = list(range(len(enc.entities)))
        rng.shuffle(order)
        chosen: list[tuple[int, int]] = []
        used = 0
        taken: set[int] = set()
        for k in order:  # an entity that would overflow the budget is skipped; the scan goes on
            a, b = _piece_range(enc, *enc.entities[k][:2])
            if used + (b - a) > budget or taken & set(range(a, b)):
                continue
            chosen.append((a, b))
            taken |= set(range(a, b))
            used += b - a
        if not chosen:
            return None
        original = list(ids)
        for a, b in chosen:
            r = rng.random()
            if r < cfg.mep_mask:
                ids[a:b] = [self.mask_id] * (b - a)
            elif r < cfg.mep_mask + cfg.mep_random:
                ids[a:b] = self.pool.replace(ids[a:b], rng)
        positions = tuple(sorted(taken))
        return MepInstance(
            _seq(enc, range(len(enc.tokens)), ids), positions, tuple(original[p] for p in positions)
        )

    def _pairs(self, enc: Encoded, rng: random.Random, keep: int) -> list[tuple[int, int]]:
        """Shuffle the entities, keep `keep`, and pair them up (e1 = the earlier mention); overlapping
        mentions cannot be cut into L, E1, M, E2, R and are skipped."""
        chosen = list(range(len(enc.entities)))
        rng.shuffle(chosen)
        chosen = sorted(chosen[:keep], key=lambda k: enc.entities[k][:2])
        out = []
        for i, j in itertools.combinations(chosen, 2):
            if enc.entities[i][1] <= enc.entities[j][0]:
                out.append((i, j))
        return out

    @staticmethod
    def _parts(enc: Encoded, i: int, j: int) -> list[list[int]]:
        """Word indices of L, E1, M, E2, R for the pair (i, j)."""
        (s1, e1, _), (s2, e2, _) = enc.entities[i], enc.entities[j]
        n = len(enc.tokens)
        return [
            list(range(0, s1)),
            list(range(s1, e1)),
            list(range(e1, s2)),
            list(range(s2, e2)),
            list(range(e2, n)),
        ]

    @staticmethod
    def _arrange(
        parts: Sequence[Sequence[int]], order: Sequence[int]
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """Concatenate parts in `order`; return the word order and the spans of parts 1 and 3 (E1, E2),
        sorted by position in the new sequence."""
        words: list[int] = []
        where: dict[int, tuple[int, int]] = {}
        for p in order:
            where[p] = (len(words), len(words) + len(parts[p]))
            words.extend(parts[p])
        spans = sorted([where[1], where[3]])
        return words, spans

    def pp(self, enc: Encoded, rng: random.Random) -> list[PpInstance]:
        cfg = self.config
        out = []
        for i, j in self._pairs(enc, rng, cfg.pp_entities):
            parts = self._parts(enc, i, j)
            classes = [IDENTITY, *rng.sample(range(1, len(PERMUTATIONS)), cfg.pp_np - 1)]
            for c in classes:
                words, spans = self._arrange(parts, PERMUTATIONS[c])
                out.append(PpInstance(_seq(enc, words), (spans[0], spans[1]), c))
        return out

    def acd(self, enc: Encoded, rng: random.Random) -> list[AcdInstance]:
        cfg = self.config
        out = []
        for i, j in self._pairs(enc, rng, cfg.acd_entities):
            L, E1, M, E2, R = parts = self._parts(enc, i, j)
            pos_words, pos_spans = self._arrange(parts, range(5))
            positive = _seq(enc, pos_words)
            negatives: list[tuple[str, list[int] | None, list[tuple[int, int]]]] = []
            # each as five new parts whose 1 and 3 are the entities: E1/E2 moved past s words of context
            variants = [("swap", [L, E2, M, E1, R])]
            if (s := min(cfg.acd_ns, len(L))) > 0:
                variants.append(("e1_left", [L[: len(L) - s], E1, L[len(L) - s :] + M, E2, R]))
            if (s := min(cfg.acd_ns, len(M))) > 0:
                variants.append(("e1_right", [L + M[:s], E1, M[s:], E2, R]))
                variants.append(("e2_left", [L, E1, M[: len(M) - s], E2, M[len(M) - s :] + R]))
            if (s := min(cfg.acd_ns, len(R))) > 0:
                variants.append(("e2_right", [L, E1, M + R[:s], E2, R[s:]]))
            for family, new_parts in variants:
                words, spans = self._arrange(new_parts, range(5))
                negatives.append((family, words, spans))
            if cfg.acd_mask_family:  # progressive masking of E1's, then E2's pieces, spans unchanged
                base = list(positive.ids)
                for s, e in pos_spans:
                    a = positive.starts[s]
                    b = positive.starts[e] if e < len(positive.starts) else len(base)
                    masked = list(base)
                    for p in range(a, b):
                        masked[p] = self.mask_id
                        negatives.append(("mask", list(masked), list(pos_spans)))
            for family, words_or_ids, spans in negatives:
                if family == "mask":
                    neg = Seq(positive.tokens, tuple(words_or_ids), positive.starts)  # type: ignore[arg-type]
                else:
                    neg = _seq(enc, words_or_ids)  # type: ignore[arg-type]
                    if neg.tokens == positive.tokens and spans == pos_spans:
                        continue  # e.g. swapping two identical mentions: no corruption at all
                out.append(
                    AcdInstance(neg, (spans[0], spans[1]), positive, (pos_spans[0], pos_spans[1]), family)
                )
        return out


# --- reading the corpus -------------------------------------------------------------------------------


def corpus_files(path: str | Path) -> list[Path]:
    """A JSONL file, or every *.jsonl in a folder (sorted: shards of `enpar annotate --shard`)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.jsonl") if p.is_file())
        if not files:
            raise FileNotFoundError(f"no *.jsonl files in {path}")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"pre-training corpus not found: {path}")
    return [path]


def iter_corpus(
    paths: Sequence[str | Path],
    streams: Sequence[int] | None = None,
    n_streams: int = 1,
    limit: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """(uid, Sentence) for the lines of the given streams (all if None); other lines are never parsed."""
    uid = -1
    wanted = set(streams) if streams is not None else None
    for path in paths:
        with Path(path).open(encoding="utf-8") as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                uid += 1
                if limit is not None and uid >= limit:
                    return
                if wanted is not None and uid % n_streams not in wanted:
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise DataError(f"invalid JSON ({exc.msg})", path=path, line=lineno) from None
                yield uid, sentence_from_json(obj, path=path, line=lineno)


class Encoder:
    """Sentences -> Encoded (batched word-piece tokenisation, label ids, the length / entity filters)."""

    def __init__(
        self, tokenizer: Any, labels: Sequence[str], config: PretrainDataConfig, max_pieces: int
    ) -> None:
        self.tokenizer = tokenizer
        self.label_ids = {lab: i for i, lab in enumerate(labels)}
        self.config = config
        self.max_pieces = max_pieces  # [CLS]/[SEP] included

    def encode(self, items: Iterable[tuple[int, Any]], batch: int = 256) -> Iterator[Encoded]:
        from enpar.encoding import words_to_pieces

        buf: list[tuple[int, Any]] = []

        def flush() -> Iterator[Encoded]:
            wps = words_to_pieces(self.tokenizer, [s.tokens for _, s in buf])
            for (uid, sent), wp in zip(buf, wps, strict=True):
                if len(wp.ids) + 2 > self.max_pieces:
                    continue
                bounds = [*wp.starts, len(wp.ids)]
                pieces = tuple(tuple(wp.ids[bounds[k] : bounds[k + 1]]) for k in range(len(wp.starts)))
                ents = tuple(sorted((e.start, e.end, self.label_ids.get(e.label, -1)) for e in sent.entities))
                yield Encoded(uid, tuple(sent.tokens), pieces, ents)
            buf.clear()

        for uid, sent in items:
            if len(sent.entities) < self.config.min_entities:
                continue
            buf.append((uid, sent))
            if len(buf) >= batch:
                yield from flush()
        if buf:
            yield from flush()


def scan_labels(paths: Sequence[str | Path], limit: int) -> tuple[str, ...]:
    """The typing classes: spaCy's 18 OntoNotes types, then any other label seen in the first `limit`
    sentences (another NER pipeline), sorted. Labels first seen later are not typing targets."""
    extra = {e.label for _, s in iter_corpus(paths, limit=limit) for e in s.entities} - set(SPACY_LABELS)
    return (*SPACY_LABELS, *sorted(extra))


class InstanceStream:
    """An endless, seeded stream of one task's instances from one corpus stream (epoch after epoch, each
    with fresh corruptions), mixed through a shuffle buffer."""

    def __init__(
        self,
        task: str,
        sentences: Callable[[], Iterable[Encoded]],
        builders: Builders,
        stream: int,
    ) -> None:
        self.task, self.sentences, self.builders, self.stream = task, sentences, builders, stream
        self.epoch = 0
        self._it = self._generate()

    def _raw(self) -> Iterator[Any]:
        while True:
            produced = 0
            for enc in self.sentences():
                for inst in self.builders.build(self.task, enc, self.epoch):
                    produced += 1
                    yield inst
            if produced == 0:
                raise DataError(
                    f"no {self.task.upper()} instance in corpus stream {self.stream}: every sentence was "
                    f"filtered out (fewer than {self.builders.config.min_entities} entities, longer than "
                    "the piece limit, or no usable entity pair)"
                )
            self.epoch += 1

    def _generate(self) -> Iterator[Any]:
        size = self.builders.config.shuffle_buffer
        raw = self._raw()
        if size <= 1:
            yield from raw
            return
        rng = random.Random(f"{self.builders.config.seed}:shuffle:{self.task}:{self.stream}")
        buffer: list[Any] = []
        for inst in raw:
            if len(buffer) < size:
                buffer.append(inst)
                continue
            k = rng.randrange(size)
            yield buffer[k]
            buffer[k] = inst

    def take(self, n: int) -> list[Any]:
        return [next(self._it) for _ in range(n)]


# --- batches ------------------------------------------------------------------------------------------


def _collate_seqs(seqs: Sequence[Seq], specials: Any) -> Any:
    """enpar.data.collate over bare sequences (pre-training sentences always fit one encoder call)."""
    from enpar.data import Example, collate
    from enpar.encoding import WordPieces
    from enpar.schema import Sentence

    examples = [Example(Sentence("", s.tokens), WordPieces(s.ids, s.starts)) for s in seqs]
    batch = collate(examples, specials, with_gold=False)
    if batch.input_ids.shape[0] != len(seqs):
        raise ValueError("a pre-training sequence exceeds the encoder's piece limit")
    return batch


@dataclass
class TaskBatch:
    """One task's micro-batch: the encoder input plus the task's targets (tensors)."""

    task: str
    batch: Any  # enpar.data.Batch
    spans: Any = None  # MET (S, 3); PP / ACD: left (P, 3)
    right: Any = None  # PP / ACD (P, 3)
    labels: Any = None  # MET (S,), PP (P,)
    positions: Any = None  # MEP (K, 2): (row, column incl. [CLS])
    targets: Any = None  # MEP (K,)
    size: int = 0  # instances (ACD: (negative, positive) pairs)

    def to(self, device: Any) -> TaskBatch:
        moved = {k: getattr(self, k) for k in ("spans", "right", "labels", "positions", "targets")}
        moved = {k: v.to(device) if v is not None else None for k, v in moved.items()}
        return TaskBatch(self.task, self.batch.to(device), size=self.size, **moved)


def collate_task(task: str, instances: Sequence[Any], specials: Any) -> TaskBatch:
    import torch

    def rows(spans: Iterable[tuple[int, int, int]]) -> torch.Tensor:
        return torch.tensor(list(spans), dtype=torch.long).reshape(-1, 3)

    if task == "met":
        spans = [(b, st, ed) for b, inst in enumerate(instances) for st, ed in inst.spans]
        labels = [lab for inst in instances for lab in inst.labels]
        return TaskBatch(
            task,
            _collate_seqs([i.seq for i in instances], specials),
            spans=rows(spans),
            labels=torch.tensor(labels, dtype=torch.long),
            size=len(instances),
        )
    if task == "mep":
        pos = [(b, p + 1) for b, inst in enumerate(instances) for p in inst.positions]  # +1: [CLS]
        tgt = [t for inst in instances for t in inst.targets]
        return TaskBatch(
            task,
            _collate_seqs([i.seq for i in instances], specials),
            positions=torch.tensor(pos, dtype=torch.long).reshape(-1, 2),
            targets=torch.tensor(tgt, dtype=torch.long),
            size=len(instances),
        )
    if task == "pp":
        return TaskBatch(
            task,
            _collate_seqs([i.seq for i in instances], specials),
            spans=rows((b, *inst.spans[0]) for b, inst in enumerate(instances)),
            right=rows((b, *inst.spans[1]) for b, inst in enumerate(instances)),
            labels=torch.tensor([i.label for i in instances], dtype=torch.long),
            size=len(instances),
        )
    if task == "acd":  # rows 0..P-1 negatives, P..2P-1 positives
        n = len(instances)
        seqs = [i.negative for i in instances] + [i.positive for i in instances]
        spans = [i.negative_spans for i in instances] + [i.positive_spans for i in instances]
        return TaskBatch(
            task,
            _collate_seqs(seqs, specials),
            spans=rows((b, *s[0]) for b, s in enumerate(spans)),
            right=rows((b, *s[1]) for b, s in enumerate(spans)),
            size=n,
        )
    raise ValueError(f"unknown task {task!r}")


class PretrainData:
    """Everything the loop needs: per (stream, task) instance streams and micro-batches from them."""

    def __init__(
        self,
        corpus: str | Path,
        tokenizer: Any,
        config: PretrainDataConfig,
        *,
        max_pieces: int,
        streams: Sequence[int] = (0,),
        n_streams: int = 1,
        tasks: Sequence[str] = TASKS,
        labels: Sequence[str] | None = None,
    ) -> None:
        from enpar.data import Specials

        self.paths = corpus_files(corpus)
        self.config = config
        self.max_pieces = min(config.max_pieces, max_pieces)
        self.specials = Specials.of(tokenizer, max_pieces)
        self.labels = tuple(labels) if labels is not None else scan_labels(self.paths, config.pool_sentences)
        self.encoder = Encoder(tokenizer, self.labels, config, self.max_pieces)
        mask_id = tokenizer.mask_token_id
        if mask_id is None:
            raise ValueError("the tokenizer has no [MASK] token; MET/MEP need one")
        # every process builds the same pool from the start of the whole corpus
        pool = EntityPool.build(
            self.encoder.encode(iter_corpus(self.paths, limit=config.pool_sentences)),
            config.pool_per_length,
            config.seed,
        )
        self.builders = Builders(config, pool, int(mask_id), len(tokenizer))
        self.n_streams = n_streams
        self.streams: dict[tuple[int, str], InstanceStream] = {}
        for s in streams:
            for task in tasks:
                self.streams[(s, task)] = InstanceStream(task, self._sentences_of(s), self.builders, s)

    def _sentences_of(self, stream: int) -> Callable[[], Iterable[Encoded]]:
        return lambda: self.encoder.encode(iter_corpus(self.paths, [stream], self.n_streams))

    def micro_batch(self, stream: int, task: str, size: int) -> TaskBatch:
        return collate_task(task, self.streams[(stream, task)].take(size), self.specials)

    def skip(self, stream: int, task: str, n: int) -> None:
        """Fast-forward (resume): drop the next n instances."""
        it = self.streams[(stream, task)]
        for _ in range(n):
            next(it._it)
