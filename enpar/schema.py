"""One record type for gold and predictions, and the canonical JSON-lines format (pure Python).

Canonical line: {"id", "doc_id", "tokens", "entities": [[start, end, label]],
"relations": [[head_start, head_end, tail_start, tail_end, label]], "meta": {...}}.
Offsets are token-level and end-exclusive. It is the "unified" CoNLL04/ADE/ACE05 layout plus ids,
so a unified file is also a canonical file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Base of every error caused by what a user handed us (data, checkpoint, spaCy model): the CLI and
    the app show its message, never a traceback."""


class DataError(InputError):
    """Bad input data; the message names the file, line and field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = ":".join(str(p) for p in (path, line) if p is not None)
        prefix = f"{where}: " if where else ""
        prefix += f"field '{field}': " if field else ""
        super().__init__(prefix + message)


@dataclass(frozen=True, order=True)
class Entity:
    """A typed token span [start, end)."""

    start: int
    end: int  # exclusive
    label: str

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    def text(self, tokens: tuple[str, ...] | list[str]) -> str:
        return " ".join(tokens[self.start : self.end])


@dataclass(frozen=True, order=True)
class Relation:
    """A directed, typed relation from head to tail."""

    head: Entity
    tail: Entity
    label: str


@dataclass(frozen=True)
class Sentence:
    """A tokenised sentence with (gold or predicted) entities and relations."""

    id: str
    tokens: tuple[str, ...]
    entities: tuple[Entity, ...] = ()
    relations: tuple[Relation, ...] = ()
    doc_id: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def with_predictions(self, entities: Iterable[Entity], relations: Iterable[Relation]) -> Sentence:
        """The same sentence carrying other entities and relations (e.g. a model's)."""
        return Sentence(
            self.id,
            self.tokens,
            tuple(sorted(set(entities))),
            tuple(sorted(set(relations))),
            self.doc_id,
            dict(self.meta),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "doc_id": self.doc_id,
            "tokens": list(self.tokens),
            "entities": [[e.start, e.end, e.label] for e in self.entities],
            "relations": [
                [r.head.start, r.head.end, r.tail.start, r.tail.end, r.label] for r in self.relations
            ],
        }
        if self.meta:
            out["meta"] = self.meta
        return out


_CANONICAL_KEYS = {"id", "doc_id", "tokens", "entities", "relations", "meta"}


def _int_pair(value: Any, n_tokens: int, fld: str, where: dict[str, Any]) -> tuple[int, int]:
    if not (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise DataError(f"expected two integer offsets, got {value!r}", field=fld, **where)
    start, end = value
    if not 0 <= start < end <= n_tokens:
        raise DataError(
            f"span [{start}, {end}) out of range for a sentence of {n_tokens} tokens "
            "(offsets are end-exclusive)",
            field=fld,
            **where,
        )
    return start, end


def sentence_from_json(
    obj: Any, *, path: str | Path | None = None, line: int | None = None, default_id: str = ""
) -> Sentence:
    """Validate one canonical (or unified) record and build a Sentence."""
    where: dict[str, Any] = {"path": path, "line": line}
    if not isinstance(obj, dict):
        raise DataError(f"expected a JSON object, got {type(obj).__name__}", **where)
    unknown = set(obj) - _CANONICAL_KEYS
    if unknown:
        raise DataError(
            f"unknown keys {sorted(unknown)}; expected a subset of {sorted(_CANONICAL_KEYS)}", **where
        )
    tokens = obj.get("tokens")
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError("expected a list of strings", field="tokens", **where)
    if not tokens:
        raise DataError("a sentence needs at least one token", field="tokens", **where)
    for key in ("entities", "relations"):
        if not isinstance(obj.get(key) or [], list):  # a string or object would be iterated silently
            raise DataError(f"expected a list, got {type(obj[key]).__name__}", field=key, **where)
    entities: list[Entity] = []
    by_span: dict[tuple[int, int], Entity] = {}
    for i, item in enumerate(obj.get("entities") or []):
        fld = f"entities[{i}]"
        if not (isinstance(item, (list, tuple)) and len(item) == 3 and isinstance(item[2], str)):
            raise DataError(f"expected [start, end, label], got {item!r}", field=fld, **where)
        start, end = _int_pair(list(item[:2]), len(tokens), fld, where)
        ent = Entity(start, end, item[2])
        if (start, end) in by_span and by_span[(start, end)] != ent:
            raise DataError(
                f"span [{start}, {end}) carries two labels ({by_span[(start, end)].label!r}, {ent.label!r})",
                field=fld,
                **where,
            )
        by_span[(start, end)] = ent
        entities.append(ent)
    relations: list[Relation] = []
    for i, item in enumerate(obj.get("relations") or []):
        fld = f"relations[{i}]"
        if not (isinstance(item, (list, tuple)) and len(item) == 5 and isinstance(item[4], str)):
            raise DataError(
                f"expected [head_start, head_end, tail_start, tail_end, label], got {item!r}",
                field=fld,
                **where,
            )
        head_span = _int_pair(list(item[0:2]), len(tokens), fld, where)
        tail_span = _int_pair(list(item[2:4]), len(tokens), fld, where)
        for name, span in (("head", head_span), ("tail", tail_span)):
            if span not in by_span:
                raise DataError(
                    f"{name} argument {list(span)} is not one of the sentence's entities", field=fld, **where
                )
        relations.append(Relation(by_span[head_span], by_span[tail_span], item[4]))
    sent_id = obj.get("id", default_id)
    for key, value in (("id", sent_id), ("doc_id", obj.get("doc_id", ""))):
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise DataError(f"expected a string, got {value!r}", field=key, **where)
    meta = obj.get("meta") or {}
    if not isinstance(meta, dict):
        raise DataError("expected an object", field="meta", **where)
    return Sentence(
        str(sent_id), tuple(tokens), tuple(entities), tuple(relations), str(obj.get("doc_id", "")), meta
    )


def read_jsonl(path: str | Path) -> list[Sentence]:
    """Read a canonical JSON-lines file; blank lines are skipped, anything malformed raises DataError."""
    return list(iter_jsonl(path))


def read_text(path: str | Path) -> str:
    """A whole UTF-8 text file (a BOM, as some editors write, is dropped); DataError naming the file when it
    is not UTF-8 or cannot be read. A missing file stays FileNotFoundError."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", path=path) from None


def parse_json_lines(lines: Iterable[str], path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for each non-blank line; invalid JSON raises DataError at its line."""
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            yield lineno, json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"invalid JSON ({exc.msg} at column {exc.colno})", path=path, line=lineno
            ) from None


def iter_jsonl(path: str | Path) -> Iterator[Sentence]:
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, obj in parse_json_lines(fh, path):
            yield sentence_from_json(obj, path=path, line=lineno, default_id=f"{path.stem}-{lineno}")


def write_jsonl(sentences: Iterable[Sentence], path: str | Path) -> int:
    """Write sentences as canonical JSON lines; returns the number written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for sent in sentences:
            fh.write(json.dumps(sent.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n
