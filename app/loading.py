"""Finding checkpoints and splits, and cached loading: models as resources, predictions and data as data.

Models load once per (checkpoint, weights file time), on a small thread pool shared across sessions
(warm_up starts them in the background); predictions are cached by (checkpoint, tokens) (st.cache_data).
Pasted text is handled by app.paste. torch is imported only when a model is
loaded, so pages that only show metrics stay light.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from enpar.schema import DataError, Sentence

CONFIG, WEIGHTS = "config.json", "model.safetensors"
MAX_DEPTH = 5  # how deep under the runs folder to look for checkpoints


# ---------------------------------------------------------------------------------------------------------
# Checkpoints on disk


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint folder found under the runs folder, with what its config.json says."""

    path: str
    name: str
    kind: str
    role: str  # "enpar" (fine-tuned from a pre-trained ENPAR encoder), "baseline" or "pretrain"
    stamp: float  # weights file time: a rewritten checkpoint is a new cache key
    config: dict[str, Any]
    error: str = ""  # set when config.json cannot be read

    @property
    def label(self) -> str:
        tag = {"enpar": "ENPAR", "baseline": "BERT baseline"}.get(self.role, self.role)
        return f"{self.name} ({tag})"


def _find_key(obj: Any, names: tuple[str, ...]) -> Any:
    """First non-empty value under any of `names`, searching nested dicts (configs nest by section)."""
    if isinstance(obj, dict):
        for name in names:
            if obj.get(name):
                return obj[name]
        for value in obj.values():
            found = _find_key(value, names)
            if found:
                return found
    return None


def describe_checkpoint(folder: Path, root: Path | None = None) -> CheckpointInfo:
    """Read a checkpoint folder's config.json into a CheckpointInfo (never raises)."""
    rel = str(folder.relative_to(root)) if root and folder.is_relative_to(root) else folder.name
    stamp = (folder / WEIGHTS).stat().st_mtime if (folder / WEIGHTS).exists() else 0.0
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("expected a JSON object")
    except (OSError, ValueError) as exc:
        return CheckpointInfo(str(folder), rel, "?", "baseline", stamp, {}, f"{folder / CONFIG}: {exc}")
    kind = str(config.get("kind", ""))
    name = str(_find_key(config, ("name", "run_name")) or rel)
    init = _find_key(config, ("init", "init_from", "pretrained", "init_checkpoint"))
    if kind == "pretrain":
        role = "pretrain"
    elif init or re.search(r"enpar", f"{name} {rel}", re.IGNORECASE):
        role = "enpar"
    else:
        role = "baseline"
    return CheckpointInfo(str(folder), name, kind, role, stamp, config)


def _walk(root: Path) -> Iterator[tuple[Path, list[str]]]:
    """(folder, file names) under root, at most MAX_DEPTH deep, skipping hidden folders, the app's own
    evaluation outputs and save_checkpoint's temporary .partial / .old copies."""
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d != "evaluations" and not d.endswith((".partial", ".old"))
        )
        if depth >= MAX_DEPTH:
            dirnames.clear()
        yield Path(dirpath), filenames


def find_checkpoints(root: Path) -> list[CheckpointInfo]:
    """Folders holding config.json + model.safetensors under root."""
    found = [describe_checkpoint(d, root) for d, files in _walk(root) if CONFIG in files and WEIGHTS in files]
    return sorted(found, key=lambda c: c.name)


@st.cache_data(ttl=5, show_spinner=False)
def cached_checkpoints(root: str) -> list[CheckpointInfo]:
    return find_checkpoints(Path(root))


@dataclass(frozen=True)
class Evaluation:
    """A finished evaluation folder made outside the app (`enpar evaluate CKPT DATA --out DIR`)."""

    out_dir: str
    checkpoint: str  # resolved paths, from metrics.json's "source"
    data: str
    finished: float

    @property
    def predictions(self) -> Path:
        return Path(self.out_dir) / "predictions.jsonl"


def find_evaluations(root: Path) -> list[Evaluation]:
    """Folders under root holding predictions.jsonl + metrics.json that name their checkpoint and data;
    newest first. The app's own runs (root/evaluations) are in its database instead."""
    found = []
    for folder, filenames in _walk(root):
        if "metrics.json" not in filenames or "predictions.jsonl" not in filenames:
            continue
        try:
            source = json.loads((folder / "metrics.json").read_text(encoding="utf-8")).get("source") or {}
            ckpt, data = str(Path(source["checkpoint"]).resolve()), str(Path(source["data"]).resolve())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not an `enpar evaluate` folder we can attribute
        found.append(Evaluation(str(folder), ckpt, data, (folder / "metrics.json").stat().st_mtime))
    return sorted(found, key=lambda e: -e.finished)


@st.cache_data(ttl=10, show_spinner=False)
def cached_evaluations(root: str) -> list[Evaluation]:
    return find_evaluations(Path(root))


def predictable(checkpoints: list[CheckpointInfo]) -> list[CheckpointInfo]:
    return [c for c in checkpoints if c.role != "pretrain"]


def default_pair(checkpoints: list[CheckpointInfo]) -> tuple[str | None, str | None]:
    """A = the newest BERT baseline, B = the newest ENPAR model (falling back to whatever exists)."""
    usable = sorted(predictable(checkpoints), key=lambda c: -c.stamp)
    if not usable:
        return None, None
    baseline = next((c.path for c in usable if c.role == "baseline"), None)
    enpar = next((c.path for c in usable if c.role == "enpar"), None)
    a = baseline or usable[0].path
    b = enpar or next((c.path for c in usable if c.path != a), a)
    return a, b


# ---------------------------------------------------------------------------------------------------------
# Models and predictions


def weights_stamp(checkpoint: str) -> float:
    try:
        return (Path(checkpoint) / WEIGHTS).stat().st_mtime
    except OSError:
        return 0.0


APP_THREADS_ENV = "ENPAR_APP_THREADS"


def set_app_threads() -> None:
    """Torch threads for app predictions ($ENPAR_APP_THREADS, default 1), set in the calling thread.

    Why 1: the app predicts a few sentences at a time, where intra-op threads gain little, and on a shared
    CPU OpenMP threads spin-waiting for a busy core made a 5-sentence prediction ~30x slower (about 2 s
    instead of 0.065 s here). Set on every call because each script run is a new thread, and OpenMP keeps
    the setting per thread. Evaluation runs are separate processes with their own setting.
    """
    import torch

    torch.set_num_threads(int(os.environ.get(APP_THREADS_ENV, "1")))


MAX_PREDICTORS = 6  # loaded models kept (A, B and a few recent ones)
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="enpar-load")  # a slow load never blocks a queue
_PREDICTORS: OrderedDict[tuple[str, float], Future[Any]] = OrderedDict()
_PREDICTORS_LOCK = threading.Lock()


_BUILD_LOCK = threading.Lock()  # one model load at a time: transformers' lazy imports are not thread-safe


def _build_predictor(checkpoint: str) -> Any:
    set_app_threads()  # pool threads predict nothing, but torch reads the setting per thread
    # Loading A and B at once failed about one time in three ("cannot import name 'AutoConfig' from
    # 'transformers'"), so loads are serial; they still run off the page's thread, beside spaCy's.
    with _BUILD_LOCK:
        from enpar.predict import Predictor  # torch: imported on first use only

        return Predictor.from_checkpoint(checkpoint)


def _predictor_future(checkpoint: str) -> Future[Any]:
    """The (possibly still running) load of a checkpoint, started at most once per weights file.

    Why not st.cache_resource: a warm-up thread started with the server has no script context, and a page
    asking for a model that is half loaded must wait for that load rather than start a second one.
    """
    key = (checkpoint, weights_stamp(checkpoint))
    with _PREDICTORS_LOCK:
        fut = _PREDICTORS.get(key)
        if fut is None or (fut.done() and fut.exception() is not None):  # a failed load is retried
            fut = _POOL.submit(_build_predictor, checkpoint)
            _PREDICTORS[key] = fut
        _PREDICTORS.move_to_end(key)
        while len(_PREDICTORS) > MAX_PREDICTORS:
            _PREDICTORS.popitem(last=False)
    return fut


def load_predictor(checkpoint: str) -> Any:
    """The checkpoint's Predictor, loaded once per weights file (shared across sessions; never mutated)."""
    set_app_threads()
    return _predictor_future(checkpoint).result()


def is_loaded(checkpoint: str) -> bool:
    """True when the checkpoint's model is in memory (so the page can say "loading models" otherwise)."""
    with _PREDICTORS_LOCK:
        fut = _PREDICTORS.get((checkpoint, weights_stamp(checkpoint)))
    return fut is not None and fut.done() and fut.exception() is None


def _warm(checkpoints: tuple[str, ...]) -> None:
    futures = [_predictor_future(c) for c in checkpoints]  # both load at once on the pool
    from enpar.nlp import DEFAULT_SPACY, load_spacy

    with contextlib.suppress(Exception):  # a missing spaCy model is reported when a paste needs it
        load_spacy(DEFAULT_SPACY, purpose="sentences")
    probe = (Sentence("warm-up", ("Warm", "up", ".")),)
    for fut in futures:
        with contextlib.suppress(Exception):  # a broken checkpoint is reported when it is used
            fut.result().predict_sentences(probe)  # first-call costs (kernels, allocator) paid here


_WARMED: set[tuple[str, ...]] = set()


def warm_up(checkpoints: Sequence[str | None]) -> threading.Thread | None:
    """Load these checkpoints and spaCy in a background thread (once per set), so that the first Compare
    does not pay for them. Call it as early as possible (e.g. from the frame on every script run: repeats
    are free). Returns the thread when one was started."""
    chosen = tuple(dict.fromkeys(str(c) for c in checkpoints if c))
    with _PREDICTORS_LOCK:
        if not chosen or chosen in _WARMED:
            return None
        _WARMED.add(chosen)
    thread = threading.Thread(target=_warm, args=(chosen,), daemon=True, name="enpar-warm-up")
    thread.start()
    return thread


@st.cache_data(show_spinner=False, max_entries=2000)
def _predict_tokens(checkpoint: str, stamp: float, sent_id: str, tokens: tuple[str, ...]) -> Sentence:
    (out,) = load_predictor(checkpoint).predict_sentences([Sentence(sent_id, tokens)])
    return out


def predict_sentence(checkpoint: str, sentence: Sentence) -> Sentence:
    """Predictions on a dataset sentence's own tokens (so they line up with its gold)."""
    return _predict_tokens(checkpoint, weights_stamp(checkpoint), sentence.id, sentence.tokens)


# ---------------------------------------------------------------------------------------------------------
# Data files


def file_stamp(path: str | Path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=1)
def _splits(root: str | None) -> dict[str, str]:
    from enpar.datasets import find_splits

    return {name: str(path) for name, path in find_splits(root).items()}


def find_splits() -> dict[str, str]:
    """{"scierc/dev": "/path/dev.json", ...} under $ENPAR_DATA (or ../shared/data)."""
    return _splits(os.environ.get("ENPAR_DATA"))


@st.cache_data(show_spinner=False, max_entries=16)
def _read_dataset(path: str, stamp: float) -> list[Sentence]:
    from enpar.readers import read_dataset

    return read_dataset(path)


def read_dataset(path: str | Path) -> list[Sentence]:
    """A dataset file (any supported format); raises DataError naming file, line and field."""
    if not Path(path).exists():
        raise DataError("file not found", path=path)
    return _read_dataset(str(path), file_stamp(path))


def symmetric_labels(dataset_path: str | Path | None) -> frozenset[str]:
    from enpar.datasets import symmetric_labels_for

    return symmetric_labels_for(dataset_path) if dataset_path else frozenset()
