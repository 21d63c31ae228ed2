"""Raw text -> entity-annotated canonical JSON lines with spaCy NER (the ENPAR pre-training corpus, spec 1.2).

Input: plain UTF-8 text or gzip-compressed text (`.gz`, e.g. the abstracts shards, one abstract per
line), read line by line without unpacking to disk. Streaming: lines are read lazily, go through
`nlp.pipe` in batches and are written as soon as they come out, so memory stays flat on a corpus of any
size. Sentences are filtered as in the paper: at least `min_entities` entities (paper 3, authors' code 2)
and at most `max_wordpieces` word pieces, [CLS] and [SEP] included, under the pre-training encoder's
tokenizer.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from enpar.nlp import DEFAULT_SPACY
from enpar.schema import Entity, Sentence

InputFormat = Literal["lines", "paragraphs", "wikitext", "dataset"]
INPUT_FORMATS: tuple[str, ...] = ("lines", "paragraphs", "wikitext", "dataset")
Context = tuple[str, int, int, str]  # (doc_id, line or sentence number, bytes read, sentence id or "")

_WIKI_HEADING = re.compile(r"^\s*(=+)\s.*\s\1\s*$")
_WIKI_ESCAPE = re.compile(r" @([-.,])@ ")


@dataclass
class AnnotateConfig:
    spacy_model: str = DEFAULT_SPACY
    min_entities: int = 3  # the paper; the authors' code used 2
    max_wordpieces: int = 256  # [CLS] and [SEP] included
    encoder: str = "minilm"  # whose tokenizer counts the word pieces
    input_format: InputFormat = "lines"
    batch_size: int = 256
    n_process: int = 1
    shard: tuple[int, int] = (0, 1)  # (index, count), 0-based: line k goes to shard k % count
    max_lines: int = 0  # read at most this many input lines (all shards together); 0 = all


@dataclass
class AnnotateSummary:
    spacy_model: str = ""
    input_format: str = ""
    shard: str = "0/1"
    lines_read: int = 0
    sentences_read: int = 0
    words_read: int = 0
    kept: int = 0
    words_kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    entities_per_type: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def entities(self) -> int:
        return sum(self.entities_per_type.values())

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["dropped"] = dict(self.dropped.most_common())
        out["entities_per_type"] = dict(self.entities_per_type.most_common())
        out["entities"] = self.entities
        out["words_per_second"] = round(self.words_read / self.seconds, 1) if self.seconds else None
        return out

    def format(self) -> str:
        lines = [
            f"spaCy model     {self.spacy_model}   input {self.input_format}   shard {self.shard}",
            f"lines read      {self.lines_read:,}",
            f"sentences read  {self.sentences_read:,} ({self.words_read:,} words)",
            f"kept            {self.kept:,} ({self.words_kept:,} words, {self.entities:,} entities)",
        ]
        lines += [f"dropped         {n:,}  {why}" for why, n in self.dropped.most_common()]
        if self.seconds:
            lines.append(
                f"time            {self.seconds:.1f} s ({self.words_read / self.seconds:,.0f} words/s)"
            )
        if self.entities_per_type:
            lines.append("entities per type (kept sentences):")
            lines += [f"  {label:<12} {n:>9,}" for label, n in self.entities_per_type.most_common()]
        return "\n".join(lines)


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' (0-based I) -> (I, N)."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"--shard {text!r}: need 0 <= I < N")
    return index, count


def clean_wikitext(line: str) -> str:
    """WikiText layout -> plain text: headings dropped, ' @-@ ' / ' @,@ ' / ' @.@ ' escapes undone."""
    if _WIKI_HEADING.match(line):
        return ""
    return _WIKI_ESCAPE.sub(r"\1", line).strip()


def iter_texts(
    path: str | Path, input_format: str = "lines", shard: tuple[int, int] = (0, 1)
) -> Iterator[tuple[str | list[str], Context]]:
    """(text, (doc_id, line number, bytes, "")) per input line of this shard, read lazily; for "dataset",
    (tokens, (doc_id, sentence number, bytes, sentence id)) per sentence of a labelled dataset file
    (any format enpar.readers reads; its own tokens are kept, its labels ignored).

    The byte count drives the progress bar; every line (kept or not) is counted so the bar reaches 100%.
    """
    if input_format not in INPUT_FORMATS:
        raise ValueError(f"input format must be one of {INPUT_FORMATS}, got {input_format!r}")
    path = Path(path)
    index, count = shard
    if input_format == "dataset":
        yield from _iter_dataset(path, shard)
        return
    doc_id = Path(path.name.removesuffix(".gz")).stem
    fh, position = _open_text(path)
    last = 0  # file position at the last yielded line, so other shards' lines move the bar too
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if input_format == "wikitext":
                head = raw.strip()
                if head.startswith("= ") and head.endswith(" =") and not head.startswith("= ="):
                    # ' = Title = ' starts an article ('= = Section = =' does not)
                    doc_id = _WIKI_ESCAPE.sub(r"\1", head.strip("= "))
            if (lineno - 1) % count != index:
                continue
            text = clean_wikitext(raw) if input_format == "wikitext" else raw.strip()
            now = position()
            yield text, (doc_id, lineno, now - last, "")
            last = now


def _open_text(path: Path) -> tuple[io.TextIOWrapper, Callable[[], int]]:
    """A text reader over a plain or gzip file, and the (compressed) byte position read so far."""
    raw = path.open("rb")
    try:
        binary = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        return io.TextIOWrapper(binary, encoding="utf-8", errors="replace"), raw.tell  # type: ignore[arg-type]
    except Exception:
        raw.close()
        raise


def _iter_dataset(path: Path, shard: tuple[int, int]) -> Iterator[tuple[list[str], Context]]:
    """Within-task text: a labelled file's sentences with their own tokenisation (dataset files are small,
    so reading one whole is fine)."""
    from enpar.readers import read_dataset

    sentences = read_dataset(path)
    share = path.stat().st_size / max(1, len(sentences))
    index, count = shard
    for k, sent in enumerate(sentences):
        if k % count == index:
            yield list(sent.tokens), (sent.doc_id or path.stem, k, round(share * count), sent.id)


class _PieceCounter:
    """Word-piece lengths of sentences, cached per word (words repeat; the cache is bounded)."""

    def __init__(self, tokenizer: Any, max_cache: int = 500_000) -> None:
        self.tokenizer = tokenizer
        self.cache: dict[str, int] = {}
        self.max_cache = max_cache

    def count(self, sentences: list[list[str]]) -> list[int]:
        missing = list({w for s in sentences for w in s if w not in self.cache})
        if missing:
            if len(self.cache) + len(missing) > self.max_cache:
                self.cache.clear()
            ids = self.tokenizer(missing, add_special_tokens=False)["input_ids"]
            # a word with no piece becomes [UNK] downstream (enpar.encoding.words_to_pieces)
            self.cache.update({w: max(1, len(p)) for w, p in zip(missing, ids, strict=True)})
        return [sum(self.cache[w] for w in s) + 2 for s in sentences]


def annotate_texts(
    texts: Iterable[tuple[str | list[str], Context]],
    nlp: Any,
    config: AnnotateConfig,
    summary: AnnotateSummary,
    *,
    tokenizer: Any = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Sentence]:
    """Kept sentences, in input order; `summary` is updated as they stream by."""
    split = config.input_format in ("paragraphs", "wikitext")
    counter = _PieceCounter(tokenizer) if tokenizer is not None and config.max_wordpieces > 0 else None
    pending: list[tuple[Sentence, list[str]]] = []

    def flush() -> Iterator[Sentence]:
        lengths = counter.count([t for _, t in pending]) if counter else [0] * len(pending)
        for (sent, _), n_pieces in zip(pending, lengths, strict=True):
            if counter and n_pieces > config.max_wordpieces:
                summary.dropped[f"more than {config.max_wordpieces} word pieces"] += 1
                continue
            summary.kept += 1
            summary.words_kept += len(sent.tokens)
            summary.entities_per_type.update(e.label for e in sent.entities)
            yield sent
        pending.clear()

    from spacy.tokens import Doc

    from enpar.nlp import doc_sentences

    non_blank = (
        (Doc(nlp.vocab, words=t) if isinstance(t, list) else t, ctx)  # pre-tokenised: keep the tokens
        for t, ctx in _count_lines(texts, summary, progress)
        if t
    )
    for doc, (doc_id, lineno, _, given_id) in nlp.pipe(
        non_blank, as_tuples=True, batch_size=config.batch_size, n_process=config.n_process
    ):
        for k, (tokens, ents) in enumerate(doc_sentences(doc, with_entities=True)):
            summary.sentences_read += 1
            summary.words_read += len(tokens)
            if len(ents) < config.min_entities:
                summary.dropped[f"fewer than {config.min_entities} entities"] += 1
                continue
            sent_id = given_id or (f"{doc_id}-{lineno}-{k}" if split else f"{doc_id}-{lineno}")
            entities = tuple(Entity(s, e, label) for s, e, label in ents)
            pending.append((Sentence(sent_id, tuple(tokens), entities, (), doc_id), tokens))
        if len(pending) >= config.batch_size:
            yield from flush()
    yield from flush()


def _count_lines(
    texts: Iterable[tuple[str | list[str], Context]],
    summary: AnnotateSummary,
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[str | list[str], Context]]:
    for text, ctx in texts:
        summary.lines_read += 1
        if progress is not None:
            progress(ctx[2])  # bytes; counted when read (spaCy buffers a batch ahead)
        yield text, ctx


def _first_lines(
    texts: Iterable[tuple[str | list[str], Context]], n: int
) -> Iterator[tuple[str | list[str], Context]]:
    """The texts of the first n input lines (line numbers count every shard's lines)."""
    for text, ctx in texts:
        if ctx[1] > n:
            return
        yield text, ctx


def annotate_file(
    in_path: str | Path,
    out_path: str | Path,
    config: AnnotateConfig,
    *,
    show_progress: bool = True,
) -> AnnotateSummary:
    """Annotate IN into OUT (canonical JSONL); returns the summary (also written to OUT.summary.json)."""
    from enpar.encoding import load_tokenizer
    from enpar.nlp import load_spacy, spacy_model_id

    in_path, out_path = Path(in_path), Path(out_path)
    if not in_path.is_file():
        raise FileNotFoundError(f"input file not found: {in_path}")
    purpose = "ner+sentences" if config.input_format in ("paragraphs", "wikitext") else "ner"
    nlp = load_spacy(config.spacy_model, purpose=purpose)
    tokenizer = load_tokenizer(config.encoder) if config.max_wordpieces > 0 else None
    summary = AnnotateSummary(
        spacy_model=spacy_model_id(nlp),
        input_format=config.input_format,
        shard=f"{config.shard[0]}/{config.shard[1]}",
    )
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=in_path.stat().st_size, unit="B", unit_scale=True, desc="annotate", smoothing=0.05)
    start = time.perf_counter()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            texts = iter_texts(in_path, config.input_format, config.shard)
            if config.max_lines:
                texts = _first_lines(texts, config.max_lines)
            for sent in annotate_texts(
                texts, nlp, config, summary, tokenizer=tokenizer, progress=bar.update if bar else None
            ):
                fh.write(json.dumps(sent.to_json(), ensure_ascii=False) + "\n")
                if bar is not None and summary.kept % 200 == 0:
                    bar.set_postfix(kept=summary.kept, refresh=False)
        tmp.replace(out_path)  # an interrupted run never leaves a truncated OUT behind
    finally:
        if bar is not None:
            bar.close()
        tmp.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - start
    summary_path = out_path.with_name(out_path.name + ".summary.json")
    meta = {"input": str(in_path), "config": {**asdict(config), "shard": list(config.shard)}}
    summary_path.write_text(json.dumps({**summary.to_json(), **meta}, indent=2) + "\n", encoding="utf-8")
    return summary
