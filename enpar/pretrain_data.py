"""Pre-training data: the annotated corpus, per-objective instance streams that cover it, and batches.

Coverage: each (corpus stream, objective) visits the stream's sentences pass after pass, each pass in a
fresh shuffled order of its own, and a sentence gives at most `per_sentence` instances per pass (the
builders in enpar.pretrain_instances), so N steps touch on the order of N x batch distinct sentences for
every objective. The streams count the distinct sentences they have drawn (the run log reports them).

Reproducibility: every random choice for a sentence comes from random.Random(f"{seed}:{task}:{uid}:{epoch}")
and a pass's order from random.Random(f"{seed}:order:{task}:{stream}:{epoch}"), uid being the sentence's
line number in the corpus: a stream does not depend on which process builds it or when, and a resumed run
replays it exactly. Nothing is written to disk: a CorpusIndex (byte offset per line) lets a pass read the
sentences in any order without holding them in memory.

Data parallelism: corpus lines are dealt to `n_streams` streams (line k -> stream k % n_streams); a process
only parses its own streams' lines.
"""

from __future__ import annotations

import json
import random
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enpar.pretrain_instances import (
    IDENTITY,
    MLM,
    OBJECTIVES,
    PERMUTATIONS,
    SPACY_LABELS,
    TASKS,
    Builders,
    Encoded,
    EntityPool,
    PretrainDataConfig,
    Seq,
)
from enpar.schema import DataError, Sentence, sentence_from_json

__all__ = [
    "IDENTITY",
    "MLM",
    "OBJECTIVES",
    "PERMUTATIONS",
    "SPACY_LABELS",
    "TASKS",
    "Builders",
    "CorpusIndex",
    "Encoded",
    "EntityPool",
    "PretrainData",
    "PretrainDataConfig",
    "TaskBatch",
    "chunk_instances",
    "collate_task",
    "iter_corpus",
]


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


def _parse(raw: str | bytes, path: Path, lineno: int) -> Sentence:
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=path, line=lineno) from None
    return sentence_from_json(obj, path=path, line=lineno)


def iter_corpus(
    paths: Sequence[str | Path],
    streams: Sequence[int] | None = None,
    n_streams: int = 1,
    limit: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """(uid, Sentence) in corpus order for the lines of the given streams (all if None); other lines are
    never parsed."""
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
                yield uid, _parse(raw, Path(path), lineno)


class CorpusIndex:
    """Where each non-blank corpus line starts (file, byte offset, line number), indexed by uid: random
    access for shuffled passes at ~20 bytes per sentence."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.file, self.offset, self.lineno = array("H"), array("q"), array("l")
        for k, path in enumerate(self.paths):
            with path.open("rb") as fh:
                pos = 0
                for lineno, raw in enumerate(fh, start=1):
                    if raw.strip():
                        self.file.append(k)
                        self.offset.append(pos)
                        self.lineno.append(lineno)
                    pos += len(raw)
        self._handles: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.offset)

    def uids(self, stream: int, n_streams: int) -> list[int]:
        return list(range(stream, len(self), n_streams))

    def read(self, uid: int) -> Sentence:
        k = self.file[uid]
        fh = self._handles.get(k)
        if fh is None:
            fh = self._handles[k] = self.paths[k].open("rb")
        fh.seek(self.offset[uid])
        return _parse(fh.readline(), self.paths[k], self.lineno[uid])

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()


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
    """One objective's endless, seeded instances from one corpus stream: pass after pass over the
    stream's sentences, each pass in a fresh shuffled order, at most `per_sentence` instances each."""

    def __init__(
        self, task: str, index: CorpusIndex, encoder: Encoder, builders: Builders, stream: int, n_streams: int
    ) -> None:
        self.task, self.index, self.encoder, self.builders = task, index, encoder, builders
        self.stream = stream
        self.uids = index.uids(stream, n_streams)
        self.epoch = 0  # passes completed
        self.drawn: set[int] = set()  # uids of the sentences whose instances were taken
        self._it = self._generate()

    def order(self, epoch: int) -> list[int]:
        rng = random.Random(f"{self.builders.config.seed}:order:{self.task}:{self.stream}:{epoch}")
        order = list(self.uids)
        rng.shuffle(order)
        return order

    def _raw(self) -> Iterator[tuple[int, Any]]:
        limit = self.builders.config.per_sentence
        while True:
            epoch, produced = self.epoch, 0
            sentences = ((uid, self.index.read(uid)) for uid in self.order(epoch))
            for enc in self.encoder.encode(sentences, batch=64):
                for inst in self.builders.build(self.task, enc, epoch, limit):
                    produced += 1
                    yield enc.uid, inst
            if produced == 0:
                raise DataError(
                    f"no {self.task.upper()} instance in corpus stream {self.stream}: every sentence was "
                    f"filtered out (fewer than {self.builders.config.min_entities} entities, longer than "
                    "the piece limit, or no usable entity pair)"
                )
            self.epoch += 1

    def _generate(self) -> Iterator[tuple[int, Any]]:
        size = self.builders.config.shuffle_buffer
        raw = self._raw()
        if size <= 1:
            yield from raw
            return
        rng = random.Random(f"{self.builders.config.seed}:shuffle:{self.task}:{self.stream}")
        buffer: list[tuple[int, Any]] = []
        for item in raw:
            if len(buffer) < size:
                buffer.append(item)
                continue
            k = rng.randrange(size)
            yield buffer[k]
            buffer[k] = item

    def take(self, n: int) -> list[Any]:
        items = [next(self._it) for _ in range(n)]
        self.drawn.update(uid for uid, _ in items)
        return [inst for _, inst in items]


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

    @property
    def count(self) -> int:
        """Targets the task's loss averages over (TaskOutput.count), known before the forward pass."""
        if self.task == "met":
            return int((self.labels >= 0).sum())
        if self.task in ("mep", MLM):
            return int(self.targets.numel())
        return self.size

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
    if task in ("mep", MLM):
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


def _length(task: str, inst: Any) -> int:
    """Pieces of an instance's longest sequence, [CLS]/[SEP] included."""
    if task == "acd":
        return max(len(inst.negative.ids), len(inst.positive.ids)) + 2
    return len(inst.seq.ids) + 2


def chunk_instances(task: str, instances: Sequence[Any], max_tokens: int) -> list[list[Any]]:
    """A micro-batch whose padded size (rows x longest) exceeds `max_tokens`, cut into length-sorted
    chunks that each fit (one instance at least); otherwise the micro-batch as it is."""
    rows = 2 if task == "acd" else 1
    if max_tokens <= 0 or not instances:
        return [list(instances)]
    if rows * len(instances) * max(_length(task, i) for i in instances) <= max_tokens:
        return [list(instances)]
    chunks: list[list[Any]] = [[]]
    for inst in sorted(instances, key=lambda i: _length(task, i)):
        if chunks[-1] and rows * (len(chunks[-1]) + 1) * _length(task, inst) > max_tokens:
            chunks.append([])
        chunks[-1].append(inst)
    return chunks


class PretrainData:
    """Everything the loop needs: per (stream, objective) instance streams and micro-batches from them."""

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
            raise ValueError("the tokenizer has no [MASK] token; MET/MEP/MLM need one")
        # every process builds the same pool from the start of the whole corpus
        pool = EntityPool.build(
            self.encoder.encode(iter_corpus(self.paths, limit=config.pool_sentences)),
            config.pool_per_length,
            config.seed,
        )
        self.builders = Builders(config, pool, int(mask_id), len(tokenizer))
        self.index = CorpusIndex(self.paths)
        self.n_streams = n_streams
        self.streams: dict[tuple[int, str], InstanceStream] = {
            (s, task): InstanceStream(task, self.index, self.encoder, self.builders, s, n_streams)
            for s in streams
            for task in tasks
        }

    def take(self, stream: int, task: str, size: int) -> list[Any]:
        return self.streams[(stream, task)].take(size)

    def micro_batch(self, stream: int, task: str, size: int) -> TaskBatch:
        return collate_task(task, self.take(stream, task, size), self.specials)

    def batches(self, task: str, instances: Sequence[Any], max_tokens: int) -> list[TaskBatch]:
        """The micro-batch's instances as one TaskBatch, or length-sorted chunks (chunk_instances)."""
        return [collate_task(task, c, self.specials) for c in chunk_instances(task, instances, max_tokens)]

    def skip(self, stream: int, task: str, n: int) -> None:
        """Fast-forward (resume): draw the next n instances (the distinct-sentence count included)."""
        self.streams[(stream, task)].take(n)

    def distinct(self, task: str) -> int:
        """Distinct sentences this process's streams have drawn for `task` so far."""
        return sum(len(st.drawn) for (_, t), st in self.streams.items() if t == task)

    def passes(self, task: str) -> int:
        """Completed passes of this objective's slowest stream."""
        return min((st.epoch for (_, t), st in self.streams.items() if t == task), default=0)
