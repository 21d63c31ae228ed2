"""Distillation: a teacher (one checkpoint or an ensemble) writes its distributions over the training
sentences to a targets file; a student fine-tuned with `teacher=FILE` and `distill_weight=w` learns from
(1 - w) x the gold loss + w x the soft cross-entropy against them (JointModel._distill_loss).

Targets file (JSON lines): a header {"format", "version", "labels", "tags", "temperature", "teachers",
"data"}, then one
line per sentence {"id", "tags": [[p per TAGS] per word], "entities": [[start, end, [p per entity label]]],
"pairs": [[[start, end], [start, end], [p per relation label]]]}.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from enpar.config import Labels
from enpar.data import Example, SoftTargets, Specials, collate, length_sorted_batches
from enpar.ensemble import Ensemble
from enpar.runtime import autocast
from enpar.schema import DataError, parse_json_lines, read_text
from enpar.tagging import PAD_ID, TAGS

FORMAT, VERSION = "enpar-teacher-targets", 1
DIGITS = 5  # probabilities are stored rounded (a file a person can open, ~4 MB for SciERC train)


def teacher_targets(
    teacher: Ensemble,
    examples: Sequence[Example],
    specials: Specials,
    *,
    device: torch.device,
    batch_size: int = 32,
    temperature: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
) -> list[SoftTargets]:
    """The teacher's distributions at `temperature` for examples with gold (Ensemble.teach), aligned with
    them. The tag distributions leave out PAD (renormalised over the real tags)."""
    teacher.eval()
    out: list[SoftTargets | None] = [None] * len(examples)
    done = 0
    with torch.inference_mode(), autocast(device, True):
        for idx in length_sorted_batches([len(ex) for ex in examples], batch_size):
            batch = collate([examples[i] for i in idx], specials, with_gold=True).to(device)
            res = teacher.teach(batch, temperature)
            tags = res.tag_logits.float().exp()
            tags[..., PAD_ID] = 0.0
            tags = (tags / tags.sum(-1, keepdim=True)).tolist()
            ents = res.entity_logits.float().exp().tolist()
            rels = res.relation_logits.float().exp().tolist()
            spans = res.spans.tolist()
            per: list[tuple[dict, dict]] = [({}, {}) for _ in idx]
            for (b, st, ed), probs in zip(spans, ents, strict=True):
                per[b][0][(st, ed)] = _rounded(probs)
            for (li, ri), probs in zip(res.pairs.tolist(), rels, strict=True):
                (b, ls, le), (_, rs, re_) = spans[li], spans[ri]
                per[b][1][((ls, le), (rs, re_))] = _rounded(probs)
            for b, i in enumerate(idx):
                n = batch.lengths[b]
                out[i] = SoftTargets(
                    tuple(_rounded(p) for p in tags[b][:n]), per[b][0], per[b][1], temperature
                )
            done += len(idx)
            if progress:
                progress(done, len(examples))
    return out  # type: ignore[return-value]


def _rounded(probs: Sequence[float]) -> tuple[float, ...]:
    return tuple(round(p, DIGITS) for p in probs)


def write_targets(
    path: str | Path,
    examples: Sequence[Example],
    targets: Sequence[SoftTargets],
    labels: Labels,
    *,
    teachers: Sequence[str] = (),
    data: str = "",
) -> None:
    path = Path(path)
    temps = {t.temperature for t in targets}
    if len(temps) > 1:
        raise ValueError(f"targets of several temperatures: {sorted(temps)}")
    header = {
        "format": FORMAT,
        "version": VERSION,
        "labels": labels.to_dict(),
        "tags": list(TAGS),
        "temperature": temps.pop() if temps else 1.0,
        "teachers": list(teachers),
        "data": data,
    }
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(header) + "\n")
        for ex, t in zip(examples, targets, strict=True):
            row = {
                "id": ex.sentence.id,
                "tags": [list(p) for p in t.tags],
                "entities": [[st, ed, list(p)] for (st, ed), p in t.entities.items()],
                "pairs": [[list(a), list(b), list(p)] for (a, b), p in t.pairs.items()],
            }
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    tmp.replace(path)


def read_targets(path: str | Path, labels: Labels) -> dict[str, SoftTargets]:
    """Sentence id -> targets. Refuses (naming the file, line and field) another format or version, labels
    other than the run's, a repeated id, and any distribution of the wrong size or not a distribution."""
    path = Path(path)
    try:
        rows = list(parse_json_lines(read_text(path).splitlines(), path))  # DataError at a bad line
    except FileNotFoundError:
        raise DataError("cannot read teacher targets: no such file", path=path) from None
    for n, row in rows:
        if not isinstance(row, dict):
            raise DataError("expected a JSON object", path=path, line=n)
    if not rows:
        raise DataError("empty teacher targets file", path=path)
    first, header = rows[0]
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DataError(f"not a {FORMAT} file of version {VERSION}", path=path, line=first, field="format")
    if header.get("labels") != labels.to_dict() or header.get("tags") != list(TAGS):
        raise DataError("the teacher's labels differ from this run's", path=path, line=first, field="labels")
    temperature = header.get("temperature", 1.0)
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise DataError(f"not a positive number: {temperature!r}", path=path, line=first, field="temperature")
    sizes = {"tags": len(TAGS), "entities": len(labels.entity), "pairs": len(labels.relation)}
    out: dict[str, SoftTargets] = {}
    for n, row in rows[1:]:
        try:
            sid = str(row["id"])
            tags = tuple(_dist(p, sizes["tags"]) for p in row["tags"])
            ents = {(int(st), int(ed)): _dist(p, sizes["entities"]) for st, ed, p in row["entities"]}
            pairs = {
                ((int(a[0]), int(a[1])), (int(b[0]), int(b[1]))): _dist(p, sizes["pairs"])
                for a, b, p in row["pairs"]
            }
        except KeyError as exc:
            raise DataError("missing", path=path, line=n, field=str(exc.args[0])) from None
        except (TypeError, ValueError, IndexError) as exc:
            raise DataError(f"malformed teacher targets: {exc}", path=path, line=n) from None
        if sid in out:
            raise DataError(f"sentence {sid!r} appears twice", path=path, line=n, field="id")
        out[sid] = SoftTargets(tags, ents, pairs, float(temperature))
    return out


def _dist(probs: Any, size: int) -> tuple[float, ...]:
    values = tuple(float(p) for p in probs)
    if len(values) != size:
        raise ValueError(f"a distribution of {len(values)} values where {size} are expected")
    if any(not math.isfinite(p) or p < 0 for p in values) or abs(sum(values) - 1.0) > 1e-3:
        raise ValueError(f"not a probability distribution: {list(values)}")
    return values


def attach_targets(
    examples: Sequence[Example], targets: dict[str, SoftTargets], path: str | Path
) -> list[Example]:
    """The examples with their teacher targets in Gold.soft. Every example needs one whose tags match its
    words: a teacher run on other data is refused, not partly used."""
    out = []
    for ex in examples:
        sid = ex.sentence.id
        soft = targets.get(sid)
        if soft is None:
            raise DataError(f"no targets for training sentence {sid!r}", path=path, field="id")
        if len(soft.tags) != len(ex.sentence):
            problem = f"sentence {sid!r} has {len(ex.sentence)} words, its targets {len(soft.tags)}"
            raise DataError(problem, path=path, field="tags")
        if ex.gold is None:
            raise ValueError("distillation needs examples with gold")
        out.append(replace(ex, gold=replace(ex.gold, soft=soft)))
    return out
