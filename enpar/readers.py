"""Dataset readers: every supported file format becomes a list of `Sentence` records (pure Python).

Formats (`read_dataset(path, format=...)`, auto-detected by default):
- ``canonical`` (aliases ``unified``, ``nyt``): sentence-level ``{"tokens", "entities": [[s, e, type]],
  "relations": [[hs, he, ts, te, type]]}`` with end-exclusive offsets, plus optional ``id``, ``doc_id``,
  ``meta``; a JSON array or JSON lines (CoNLL04/ADE/ACE05 "unified" files, ``nyt_arnor/*.jsonl``, our
  own output).
- ``dygie``: DyGIE/DyGIE++ json-lines, one document per line, document-level END-INCLUSIVE offsets
  (SciERC, ACE05 as DyGIE emits it). Sentence ids are ``f"{doc_key}:{i}"``, ``doc_id`` is ``doc_key``.
- ``nere``: the ENPAR/NERE json-lines (``sentText``, ``entityMentions`` with ``offset: [st, ed)`` and
  ``emId``, ``relationMentions`` with ``em1Id``/``em2Id``). NERE's converters write symmetric relations
  in both directions; they are read as written.
- ``spert``: SpERT-style JSON (``entities: [{type, start, end}]``, ``relations: [{type, head, tail}]``,
  arguments by index), the layout most public CoNLL04/ADE copies use.

Every problem raises `DataError` naming the file, the line, the field and what is wrong. Nothing is dropped:
nested/crossing entities are kept (see `overlaps`) and exact duplicates are kept (see `duplicates`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enpar.schema import (
    DataError,
    Entity,
    Relation,
    Sentence,
    parse_json_lines,
    read_text,
    sentence_from_json,
)

FORMATS = ("canonical", "dygie", "nere", "spert")
ALIASES = {
    "unified": "canonical",
    "nyt": "canonical",
    "jsonl": "canonical",
    "dygiepp": "dygie",
    "enpar": "nere",
}
FORMAT_CHOICES = ("auto", *FORMATS, *ALIASES)

Record = tuple[int, Any]  # (1-based line where the record starts, parsed JSON value)

_WS = " \t\r\n"


# ---------------------------------------------------------------------------------------------- JSON layer


def _iter_array(text: str, path: Path) -> Iterator[Record]:
    """Elements of a top-level JSON array, each with the line it starts on (json.load would lose lines)."""
    decoder = json.JSONDecoder()
    n = len(text)

    def skip(i: int) -> int:
        while i < n and text[i] in _WS:
            i += 1
        return i

    i = skip(text.index("[") + 1)
    line, counted = 1, 0
    if i < n and text[i] == "]":
        i += 1
    else:
        while True:
            line += text.count("\n", counted, i)
            counted = i
            try:
                obj, end = decoder.raw_decode(text, i)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"invalid JSON ({exc.msg} at column {exc.colno})", path=path, line=exc.lineno
                ) from None
            yield line, obj
            i = skip(end)
            if i < n and text[i] == ",":
                i = skip(i + 1)
                continue
            if i < n and text[i] == "]":
                i += 1
                break
            where = line + text.count("\n", counted, i)
            raise DataError(
                "invalid JSON (expected ',' or ']' in the top-level array)", path=path, line=where
            )
    if text[i:].strip():
        raise DataError(
            "invalid JSON (extra data after the top-level array)",
            path=path,
            line=1 + text.count("\n", 0, skip(i)),
        )


def _iter_lines(text: str, path: Path) -> Iterator[Record]:
    return parse_json_lines(text.splitlines(), path)


def _load(path: Path, text: str | None = None) -> tuple[list[Record], bool]:
    """All records of the file (or of `text`, named `path` in errors), and whether it is a JSON array
    (else JSON lines)."""
    if text is None:
        text = read_text(path)
    array = text.lstrip().startswith("[")
    return list(_iter_array(text, path) if array else _iter_lines(text, path)), array


def iter_records(path: str | Path) -> Iterator[Record]:
    """(line, value) for each record of a JSON-lines file or of a top-level JSON array."""
    return iter(_load(Path(path))[0])


# ---------------------------------------------------------------------------------------------- detection


def _classify(obj: Any) -> str | None:
    """The format a single record belongs to, or None when it could be either canonical or SpERT."""
    if not isinstance(obj, dict):
        return None
    if "sentences" in obj or "doc_key" in obj:
        return "dygie"
    if {"sentText", "entityMentions", "relationMentions", "sentId"} & set(obj):
        return "nere"
    if "orig_id" in obj:
        return "spert"
    for key in ("entities", "relations"):
        items = obj.get(key)
        if isinstance(items, list) and items:
            return "spert" if isinstance(items[0], dict) else "canonical"
    if set(obj) & {"id", "doc_id", "meta"}:
        return "canonical"
    return None


def _detect(records: Iterable[Record], path: Path) -> str:
    for line, obj in records:
        if not isinstance(obj, dict):
            raise DataError(
                f"expected a JSON object, got {type(obj).__name__}; cannot detect the format",
                path=path,
                line=line,
            )
        fmt = _classify(obj)
        if fmt is not None:
            return fmt
        if "tokens" not in obj:
            raise DataError(
                f"cannot detect the format from keys {sorted(obj)}; pass --format", path=path, line=line
            )
    # Only records without entities/relations (or an empty file): both layouts read them the same way.
    return "canonical"


def detect_format(path: str | Path) -> str:
    """One of FORMATS, from the content (not the file name)."""
    path = Path(path)
    return _detect(iter_records(path), path)


def normalise_format(format: str) -> str:
    name = ALIASES.get(format.lower(), format.lower())
    if name != "auto" and name not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMAT_CHOICES)}")
    return name


# ---------------------------------------------------------------------------------------------- helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_keys(
    obj: dict[str, Any], allowed: set[str], where: dict[str, Any], fld: str | None = None
) -> None:
    unknown = set(obj) - allowed
    if unknown:
        raise DataError(
            f"unknown keys {sorted(unknown)}; expected a subset of {sorted(allowed)}", field=fld, **where
        )


def _check_record(
    item: Any, allowed: set[str], required: tuple[str, ...], where: dict[str, Any], fld: str
) -> None:
    """A list item that must be an object with keys from `allowed`, including all of `required`."""
    if not isinstance(item, dict):
        raise DataError(f"expected an object, got {item!r}", field=fld, **where)
    _check_keys(item, allowed, where, fld)
    for key in required:
        if key not in item:
            raise DataError(f"missing key {key!r}", field=fld, **where)


def _require_list(obj: dict[str, Any], key: str, where: dict[str, Any], fld: str | None = None) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataError(f"expected a list, got {type(value).__name__}", field=fld or key, **where)
    return value


def _tokens(value: Any, fld: str, where: dict[str, Any]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise DataError("expected a list of strings", field=fld, **where)
    if not value:
        raise DataError("a sentence needs at least one token", field=fld, **where)
    return tuple(value)


def _assemble(
    sent_id: str,
    doc_id: str,
    tokens: tuple[str, ...],
    entities: list[tuple[Entity, str]],
    relations: list[tuple[tuple[int, int], tuple[int, int], str, str]],
    where: dict[str, Any],
    meta: dict[str, Any] | None = None,
    show: Callable[[tuple[int, int]], str] = lambda span: f"[{span[0]}, {span[1]})",
) -> Sentence:
    """Build a Sentence from range-checked entities and relations given as (span, span, label, field).

    `show` writes a span the way the input file does, so messages quote offsets the user can find.
    """
    by_span: dict[tuple[int, int], Entity] = {}
    for ent, fld in entities:
        old = by_span.setdefault(ent.span, ent)
        if old != ent:
            raise DataError(
                f"span {show(ent.span)} carries two labels ({old.label!r}, {ent.label!r})", field=fld, **where
            )
    rels: list[Relation] = []
    for head, tail, label, fld in relations:
        for name, span in (("head", head), ("tail", tail)):
            if span not in by_span:
                raise DataError(
                    f"{name} argument {show(span)} is not one of the sentence's entities", field=fld, **where
                )
        rels.append(Relation(by_span[head], by_span[tail], label))
    return Sentence(sent_id, tokens, tuple(e for e, _ in entities), tuple(rels), doc_id, meta or {})


# ---------------------------------------------------------------------------------------------- readers


def _read_canonical(records: Iterable[Record], path: Path, array: bool) -> Iterator[tuple[int, Sentence]]:
    for index, (line, obj) in enumerate(records, start=1):
        # Default ids follow schema.iter_jsonl (line number); array elements may share a line: use the index.
        default_id = f"{path.stem}-{index if array else line}"
        yield line, sentence_from_json(obj, path=path, line=line, default_id=default_id)


_DYGIE_KEYS = {"doc_key", "dataset", "sentences", "ner", "relations", "clusters", "events", "weight"}


def _dygie_span(
    value: Any, sentence: tuple[int, int, int], fld: str, where: dict[str, Any]
) -> tuple[int, int]:
    """Document-level end-inclusive [start, end] -> sentence-level end-exclusive (start, end).

    `sentence` is (index, document-level index of its first token, of its last token).
    """
    i, first, last = sentence
    if not (isinstance(value, list) and len(value) == 2 and all(map(_is_int, value))):
        raise DataError(f"expected two integer offsets, got {value!r}", field=fld, **where)
    start, end = value
    if not first <= start <= end <= last:
        raise DataError(
            f"span [{start}, {end}] (document-level, end-inclusive) is not inside "
            f"sentence {i}, which covers tokens [{first}, {last}]",
            field=fld,
            **where,
        )
    return start - first, end - first + 1


def _read_dygie(records: Iterable[Record], path: Path, array: bool) -> Iterator[tuple[int, Sentence]]:
    for index, (line, doc) in enumerate(records, start=1):
        where: dict[str, Any] = {"path": path, "line": line}
        if not isinstance(doc, dict):
            raise DataError(f"expected a JSON object (one document), got {type(doc).__name__}", **where)
        _check_keys(doc, _DYGIE_KEYS, where)
        doc_key = doc.get("doc_key", f"{path.stem}-{index if array else line}")
        if not isinstance(doc_key, (str, int)) or isinstance(doc_key, bool):
            raise DataError("expected a string", field="doc_key", **where)
        doc_key = str(doc_key)
        sentences = _require_list(doc, "sentences", where)
        if not sentences:
            raise DataError("a document needs at least one sentence", field="sentences", **where)
        per_sentence = {}
        for key in ("ner", "relations"):
            value = _require_list(doc, key, where)
            if key in doc and len(value) != len(sentences):
                raise DataError(f"has {len(value)} lists for {len(sentences)} sentences", field=key, **where)
            per_sentence[key] = value or [[] for _ in sentences]
        offset = 0
        for i, raw_tokens in enumerate(sentences):
            tokens = _tokens(raw_tokens, f"sentences[{i}]", where)
            last = offset + len(tokens) - 1  # document-level index of the sentence's last token
            sentence = (i, offset, last)
            entities: list[tuple[Entity, str]] = []
            ner = per_sentence["ner"][i]
            if not isinstance(ner, list):
                raise DataError("expected a list of [start, end, label]", field=f"ner[{i}]", **where)
            for j, item in enumerate(ner):
                fld = f"ner[{i}][{j}]"
                if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], str)):
                    raise DataError(f"expected [start, end, label], got {item!r}", field=fld, **where)
                start, end = _dygie_span(item[:2], sentence, fld, where)
                entities.append((Entity(start, end, item[2]), fld))
            relations = []
            rels = per_sentence["relations"][i]
            if not isinstance(rels, list):
                raise DataError(
                    "expected a list of [hs, he, ts, te, label]", field=f"relations[{i}]", **where
                )
            for j, item in enumerate(rels):
                fld = f"relations[{i}][{j}]"
                if not (isinstance(item, list) and len(item) == 5 and isinstance(item[4], str)):
                    raise DataError(
                        f"expected [head_start, head_end, tail_start, tail_end, label], got {item!r}",
                        field=fld,
                        **where,
                    )
                head = _dygie_span(item[0:2], sentence, fld, where)
                tail = _dygie_span(item[2:4], sentence, fld, where)
                relations.append((head, tail, item[4], fld))
            yield (
                line,
                _assemble(
                    f"{doc_key}:{i}",
                    doc_key,
                    tokens,
                    entities,
                    relations,
                    where,
                    show=lambda sp, o=offset: f"[{sp[0] + o}, {sp[1] - 1 + o}] (document-level)",
                ),
            )
            offset = last + 1


_NERE_KEYS = {
    "sentId",
    "articleId",
    "sentText",
    "tokens",
    "entityMentions",
    "relationMentions",
    "wordpieceSentText",
    "wordpieceTokensIndex",
    "wordpieceTokens",
}
_NERE_ENTITY_KEYS = {"emId", "text", "offset", "label", "wordpieceText"}
_NERE_RELATION_KEYS = {"em1Id", "em2Id", "em1Text", "em2Text", "label"}


def _read_nere(records: Iterable[Record], path: Path, array: bool) -> Iterator[tuple[int, Sentence]]:
    for index, (line, obj) in enumerate(records, start=1):
        where: dict[str, Any] = {"path": path, "line": line}
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", **where)
        _check_keys(obj, _NERE_KEYS, where)
        text = obj.get("sentText")
        if text is not None and not isinstance(text, str):
            raise DataError("expected a string of space-separated words", field="sentText", **where)
        if "tokens" in obj:
            tokens = _tokens(obj["tokens"], "tokens", where)
            if text is not None and len(text.split(" ")) != len(tokens):
                raise DataError(
                    f"has {len(text.split(' '))} words but 'tokens' has {len(tokens)}",
                    field="sentText",
                    **where,
                )
        elif text is None:
            raise DataError("missing (need 'sentText' or 'tokens')", field="sentText", **where)
        else:
            # Words are joined by single spaces, so split(" ") (not split()) keeps offsets honest.
            tokens = _tokens(text.split(" ") if text else [], "sentText", where)
            if "" in tokens:
                raise DataError(
                    "contains an empty word (double, leading or trailing space)", field="sentText", **where
                )
        pieces = obj.get("wordpieceTokensIndex")
        if pieces is not None and (not isinstance(pieces, list) or len(pieces) != len(tokens)):
            raise DataError(
                f"expected one [start, end) per word ({len(tokens)})", field="wordpieceTokensIndex", **where
            )
        entities: list[tuple[Entity, str]] = []
        by_id: dict[Any, tuple[int, int]] = {}
        for j, em in enumerate(_require_list(obj, "entityMentions", where)):
            fld = f"entityMentions[{j}]"
            _check_record(em, _NERE_ENTITY_KEYS, ("emId", "offset", "label"), where, fld)
            em_id, offset, label = em["emId"], em["offset"], em["label"]
            if not isinstance(em_id, (str, int)) or isinstance(em_id, bool):
                raise DataError(f"expected a string or integer, got {em_id!r}", field=f"{fld}.emId", **where)
            if em_id in by_id:
                raise DataError(f"duplicate emId {em_id!r}", field=f"{fld}.emId", **where)
            if not isinstance(label, str):
                raise DataError(f"expected a string, got {label!r}", field=f"{fld}.label", **where)
            if not (isinstance(offset, list) and len(offset) == 2 and all(map(_is_int, offset))):
                raise DataError(
                    f"expected [start, end) integers, got {offset!r}", field=f"{fld}.offset", **where
                )
            start, end = offset
            if not 0 <= start < end <= len(tokens):
                raise DataError(
                    f"span [{start}, {end}) out of range for a sentence of {len(tokens)} words "
                    "(offsets are end-exclusive)",
                    field=f"{fld}.offset",
                    **where,
                )
            surface = " ".join(tokens[start:end])
            if "text" in em and em["text"] != surface:
                raise DataError(
                    f"text {em['text']!r} does not match the words at [{start}, {end}): {surface!r}",
                    field=f"{fld}.text",
                    **where,
                )
            by_id[em_id] = (start, end)
            entities.append((Entity(start, end, label), fld))
        relations = []
        for j, rm in enumerate(_require_list(obj, "relationMentions", where)):
            fld = f"relationMentions[{j}]"
            _check_record(rm, _NERE_RELATION_KEYS, ("em1Id", "em2Id", "label"), where, fld)
            if not isinstance(rm["label"], str):
                raise DataError(f"expected a string, got {rm['label']!r}", field=f"{fld}.label", **where)
            spans = []
            for arg in ("em1", "em2"):
                em_id = rm[f"{arg}Id"]
                if not isinstance(em_id, (str, int)) or em_id not in by_id:
                    raise DataError(
                        f"{em_id!r} is not the emId of an entity mention", field=f"{fld}.{arg}Id", **where
                    )
                surface = " ".join(tokens[slice(*by_id[em_id])])
                if f"{arg}Text" in rm and rm[f"{arg}Text"] != surface:
                    raise DataError(
                        f"text {rm[f'{arg}Text']!r} does not match entity {em_id!r}: {surface!r}",
                        field=f"{fld}.{arg}Text",
                        **where,
                    )
                spans.append(by_id[em_id])
            relations.append((spans[0], spans[1], rm["label"], fld))
        article = obj.get("articleId")
        sent_no = obj.get("sentId")
        if sent_no is None:
            sent_id = f"{path.stem}-{index if array else line}"
        else:
            # NERE's sentId is the index inside the article: the pair matches the DyGIE reader's ids.
            sent_id = f"{article}:{sent_no}" if article is not None else str(sent_no)
        yield (
            line,
            _assemble(sent_id, "" if article is None else str(article), tokens, entities, relations, where),
        )


_SPERT_KEYS = {"tokens", "entities", "relations", "orig_id"}


def _read_spert(records: Iterable[Record], path: Path, array: bool) -> Iterator[tuple[int, Sentence]]:
    for index, (line, obj) in enumerate(records, start=1):
        where: dict[str, Any] = {"path": path, "line": line}
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", **where)
        _check_keys(obj, _SPERT_KEYS, where)
        tokens = _tokens(obj.get("tokens"), "tokens", where)
        entities: list[tuple[Entity, str]] = []
        for j, ent in enumerate(_require_list(obj, "entities", where)):
            fld = f"entities[{j}]"
            if not (
                isinstance(ent, dict)
                and set(ent) == {"type", "start", "end"}
                and isinstance(ent["type"], str)
                and _is_int(ent["start"])
                and _is_int(ent["end"])
            ):
                raise DataError(
                    f"expected {{'type': str, 'start': int, 'end': int}}, got {ent!r}", field=fld, **where
                )
            if not 0 <= ent["start"] < ent["end"] <= len(tokens):
                raise DataError(
                    f"span [{ent['start']}, {ent['end']}) out of range for a sentence of "
                    f"{len(tokens)} tokens (offsets are end-exclusive)",
                    field=fld,
                    **where,
                )
            entities.append((Entity(ent["start"], ent["end"], ent["type"]), fld))
        relations = []
        for j, rel in enumerate(_require_list(obj, "relations", where)):
            fld = f"relations[{j}]"
            if not (
                isinstance(rel, dict)
                and set(rel) == {"type", "head", "tail"}
                and isinstance(rel["type"], str)
            ):
                raise DataError(
                    f"expected {{'type': str, 'head': int, 'tail': int}}, got {rel!r}", field=fld, **where
                )
            args = []
            for arg in ("head", "tail"):
                k = rel[arg]
                if not (_is_int(k) and 0 <= k < len(entities)):
                    raise DataError(
                        f"{arg} {k!r} is not an index into the {len(entities)} entities", field=fld, **where
                    )
                args.append(entities[k][0].span)
            relations.append((args[0], args[1], rel["type"], fld))
        # orig_id is kept as metadata only: public copies do not promise it is unique.
        meta = {"orig_id": obj["orig_id"]} if "orig_id" in obj else None
        yield line, _assemble(f"{path.stem}-{index}", "", tokens, entities, relations, where, meta)


_READERS: dict[str, Callable[[Iterable[Record], Path, bool], Iterator[tuple[int, Sentence]]]] = {
    "canonical": _read_canonical,
    "dygie": _read_dygie,
    "nere": _read_nere,
    "spert": _read_spert,
}


def read_dataset(path: str | Path, format: str = "auto") -> list[Sentence]:
    """Read any supported file into sentences; raises DataError (file, line, field) on any problem.

    Sentence ids must be unique within a file, since predictions are aligned to gold by id.
    """
    return _read(Path(path), format, None)


def parse_dataset(text: str, *, name: str, format: str = "auto") -> list[Sentence]:
    """`read_dataset` for text already in memory (an upload): the same formats, checks and errors, with
    `name` standing for the file; nothing is read from or written to disk."""
    return _read(Path(name), format, text)


def _read(path: Path, format: str, text: str | None) -> list[Sentence]:
    fmt = normalise_format(format)
    records, array = _load(path, text)
    if fmt == "auto":
        fmt = _detect(records, path)
    out: list[Sentence] = []
    first_line: dict[str, int] = {}
    for line, sent in _READERS[fmt](records, path, array):
        if sent.id in first_line:
            raise DataError(
                f"duplicate sentence id {sent.id!r} (first seen on line {first_line[sent.id]})",
                path=path,
                line=line,
                field="id",
            )
        first_line[sent.id] = line
        out.append(sent)
    return out


# ---------------------------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Overlap:
    """Two distinct entity spans of one sentence that share tokens (a flat BIEOU tagger keeps only one)."""

    sentence_id: str
    first: Entity
    second: Entity
    kind: str  # "nested" (one span inside the other) or "crossing" (partial overlap)
    first_text: str
    second_text: str

    def describe(self) -> str:
        a, b = self.first, self.second
        return (
            f"{self.sentence_id}: {self.kind} [{a.start}, {a.end}) {a.label} {self.first_text!r} / "
            f"[{b.start}, {b.end}) {b.label} {self.second_text!r}"
        )


def overlaps(sentences: Iterable[Sentence]) -> list[Overlap]:
    """Every pair of overlapping entity spans, sentence by sentence (exact duplicates are not overlaps)."""
    found: list[Overlap] = []
    for sent in sentences:
        ents = sorted(set(sent.entities), key=lambda e: (e.start, -e.end, e.label))
        for i, a in enumerate(ents):
            for b in ents[i + 1 :]:
                if b.start >= a.end:
                    break  # sorted by start: no later entity can overlap a
                kind = "nested" if b.end <= a.end else "crossing"
                found.append(Overlap(sent.id, a, b, kind, a.text(sent.tokens), b.text(sent.tokens)))
    return found


@dataclass(frozen=True)
class Duplicate:
    """An entity or relation annotated more than once in the same sentence."""

    sentence_id: str
    kind: str  # "entity" or "relation"
    item: Entity | Relation
    count: int

    def describe(self) -> str:
        item = self.item
        if isinstance(item, Relation):
            what = (
                f"{item.label} [{item.head.start}, {item.head.end}) -> [{item.tail.start}, {item.tail.end})"
            )
        else:
            what = f"{item.label} [{item.start}, {item.end})"
        return f"{self.sentence_id}: {self.kind} {what} x{self.count}"


def duplicates(sentences: Iterable[Sentence]) -> list[Duplicate]:
    """Exact repeats kept by the readers (they count in the totals; set-based scoring sees them once)."""
    found: list[Duplicate] = []
    for sent in sentences:
        for kind, items in (("entity", sent.entities), ("relation", sent.relations)):
            for item, n in Counter(items).items():
                if n > 1:
                    found.append(Duplicate(sent.id, kind, item, n))
    return found
