"""Dataset metadata: names, symmetric relation types, where the shared splits are, corpus statistics."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from enpar.readers import duplicates, overlaps
from enpar.schema import Sentence

# Symmetric relation types per dataset, as the ENPAR authors' toolkit (Receiling/NERE) treats them.
SYMMETRIC_LABELS: dict[str, frozenset[str]] = {
    "scierc": frozenset({"COMPARE", "CONJUNCTION"}),
    "ace05": frozenset({"PER-SOC"}),
}

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SPLIT_ORDER = ("train", "dev", "valid", "test")
_SPLIT_ALIASES = {"validation": "valid", "val": "valid"}
_DATA_SUFFIXES = {".json", ".jsonl"}

# Bounded by non-alphanumerics so that e.g. "made" or "facet" do not match "ade"/"ace".
_NAME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rf"(?:^|[^a-z0-9])(?:{pattern})(?:$|[^a-z0-9])"))
    for name, pattern in (
        ("scierc", r"scierc|sci-erc|sci_erc|sciie"),
        ("ace05", r"ace0?5|ace[-_]05|ace2005|ace[-_]2005"),
        ("ace04", r"ace0?4|ace[-_]04|ace2004|ace[-_]2004"),
        ("conll04", r"conll0?4|conll[-_]04|conll2004"),
        ("ade", r"ade"),
        ("nyt", r"nyt\w*"),
    )
)


def dataset_name(path_or_name: str | Path) -> str | None:
    """The dataset a path or name refers to ("scierc", "ace05", ...), from the file name up; None if unknown.

    Only the file name and its three nearest folders are looked at, so a user's home folder does not count.
    """
    parts = Path(path_or_name).parts[-4:]
    for part in reversed(parts):
        low = part.lower()
        for name, pattern in _NAME_PATTERNS:
            if pattern.search(low):
                return name
    return None


def symmetric_labels_for(path_or_name: str | Path) -> frozenset[str]:
    """Symmetric relation types of the dataset a path or name refers to (empty when unknown)."""
    name = dataset_name(path_or_name)
    return SYMMETRIC_LABELS.get(name, frozenset()) if name else frozenset()


def default_data_root() -> Path:
    """`$ENPAR_DATA`, else `../shared/data` next to the project."""
    env = os.environ.get("ENPAR_DATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


def split_name(path: str | Path) -> str | None:
    """ "train" / "dev" / "valid" / "test" from a file name such as `dev.json` or `train.ACE05.json`."""
    for word in re.split(r"[^a-z0-9]+", Path(path).name.lower()):
        word = _SPLIT_ALIASES.get(word, word)
        if word in SPLIT_ORDER:
            return word
    return None


def find_splits(root: str | Path | None = None) -> dict[str, Path]:
    """Data files one folder below root, keyed "dataset/split" (e.g. "scierc/dev"); {} when root is absent.

    Only .json/.jsonl files whose name names a split count; deeper folders (e.g. raw originals) are ignored.
    """
    root = Path(root) if root is not None else default_data_root()
    if not root.is_dir():
        return {}
    found: list[tuple[str, int, Path]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(folder.iterdir()):
            split = split_name(file)
            if file.is_file() and file.suffix.lower() in _DATA_SUFFIXES and split:
                found.append((folder.name, SPLIT_ORDER.index(split), file))
    out: dict[str, Path] = {}
    for dataset, order, file in sorted(found):
        key = f"{dataset}/{SPLIT_ORDER[order]}"
        out[key if key not in out else f"{dataset}/{file.stem}"] = file
    return out


def corpus_stats(sentences: Iterable[Sentence]) -> dict[str, Any]:
    """Counts for `enpar stats` and the app (JSON-serialisable).

    `documents` is None when no sentence carries a doc_id. Duplicated annotations count in the totals, as
    the readers keep them.
    """
    sentences = list(sentences)
    docs = {s.doc_id for s in sentences if s.doc_id}
    found = overlaps(sentences)
    dups = duplicates(sentences)
    return {
        "documents": len(docs) if docs else None,
        "sentences": len(sentences),
        "tokens": sum(len(s) for s in sentences),
        "entities": sum(len(s.entities) for s in sentences),
        "relations": sum(len(s.relations) for s in sentences),
        "max_sentence_tokens": max((len(s) for s in sentences), default=0),
        "sentences_without_relations": sum(1 for s in sentences if not s.relations),
        "entity_types": dict(Counter(e.label for s in sentences for e in s.entities).most_common()),
        "relation_types": dict(Counter(r.label for s in sentences for r in s.relations).most_common()),
        "overlaps": {
            "nested": sum(1 for o in found if o.kind == "nested"),
            "crossing": sum(1 for o in found if o.kind == "crossing"),
            "sentences": len({o.sentence_id for o in found}),
        },
        "duplicates": {
            "entities": sum(d.count - 1 for d in dups if d.kind == "entity"),
            "relations": sum(d.count - 1 for d in dups if d.kind == "relation"),
        },
    }
