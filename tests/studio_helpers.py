"""Test helpers: tiny checkpoints built with the model's public API, a small gold split, and a one-relation
test sentence.

Used by tests/test_app.py, tests/test_browser.py, tests/test_checkpoint.py, tests/test_predict.py,
tests/test_scripts.py, tests/test_finetune.py and benchmarks/bench_app.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enpar.schema import Sentence

ENTITY_LABELS = ("Task", "Method", "Metric")
RELATION_LABELS = ("USED-FOR", "EVALUATE-FOR", "COMPARE")

# A small SciERC-like split in canonical JSON lines (end-exclusive offsets).
GOLD = [
    {
        "id": "d1-0", "doc_id": "d1",
        "tokens": ["We", "use", "a", "neural", "network", "for", "relation", "extraction", "."],
        "entities": [[2, 5, "Method"], [6, 8, "Task"]],
        "relations": [[2, 5, 6, 8, "USED-FOR"]],
    },
    {
        "id": "d1-1", "doc_id": "d1",
        "tokens": ["The", "model", "is", "evaluated", "with", "F1", "on", "SciERC", "and", "compared",
                   "to", "SpERT", "."],
        "entities": [[1, 2, "Method"], [5, 6, "Metric"], [7, 8, "Task"], [11, 12, "Method"]],
        "relations": [[5, 6, 1, 2, "EVALUATE-FOR"], [1, 2, 11, 12, "COMPARE"]],
    },
    {
        "id": "d2-0", "doc_id": "d2",
        "tokens": ["Parsing", "helps", "translation", "."],
        "entities": [[0, 1, "Task"], [2, 3, "Task"]],
        "relations": [[0, 1, 2, 3, "USED-FOR"]],
    },
]  # fmt: skip


def used_for_sentence(i: int, **fields: Any) -> Sentence:
    """Sentence "s<i>", "we use deep nets for parsing number <i>": Method "use deep" USED-FOR Task "for"."""
    from enpar.schema import Entity, Relation, Sentence

    a, b = Entity(0, 2, "Method"), Entity(3, 4, "Task")
    tokens = ("we", "use", "deep", "nets", "for", "parsing", "number", str(i))
    return Sentence(f"s{i}", tokens, (a, b), (Relation(a, b, "USED-FOR"),), **fields)


def write_split(root: Path, *, name: str = "scierc") -> Path:
    """root/<name>/{dev,test}.json holding GOLD; returns root (use it as $ENPAR_DATA)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(rec) + "\n" for rec in GOLD)
    for split in ("dev", "test"):
        (folder / f"{split}.json").write_text(text, encoding="utf-8")
    return root


def make_checkpoint(
    out: Path, *, encoder: str | Path, seed: int, init: str | None = None, outside_bias: float = 4.0
) -> Path:
    """A random JointModel saved as a fine-tuned checkpoint (init set = an "ENPAR" one).

    Head biases are nudged so that it predicts entities and some relations on any text: the app then has
    arcs to draw and differences to mark, without any training. A higher `outside_bias` tags fewer words
    as entities (4.0: about half of them; 5.0: about a fifth, nearer a trained model).
    """
    import torch
    from transformers import AutoTokenizer

    from enpar.checkpoint import save_checkpoint
    from enpar.config import Labels, ModelConfig
    from enpar.model import JointModel
    from enpar.tagging import TAG_INDEX

    config = ModelConfig(encoder=str(encoder))
    relations = tuple(f"{r}@{d}" for r in RELATION_LABELS for d in "><")
    labels = Labels(("None", *ENTITY_LABELS), ("None", *relations))
    torch.manual_seed(seed)
    model = JointModel.build(config, labels)
    with torch.no_grad():
        model.tagger.bias.zero_()
        model.tagger.bias[TAG_INDEX["U"]] = 4.0  # every word a one-word entity candidate
        model.tagger.bias[TAG_INDEX["O"]] = outside_bias
        model.entity_head.bias[0] = -4.0  # typed, never None
        model.relation_head.bias[0] = 1.0  # mostly None, some relations
    tokenizer = AutoTokenizer.from_pretrained(str(encoder))
    extra = {"init": init, "init_mode": "full" if init else None}
    save_checkpoint(out, model, kind="finetune", model_config=config, tokenizer=tokenizer, labels=labels,
                    extra=extra)  # fmt: skip
    return out


def make_runs_folder(root: Path, *, encoder: str | Path, outside_bias: float = 4.0) -> Path:
    """root/bert-baseline/best and root/enpar/best: checkpoints A and B as `enpar finetune` lays them out."""
    make_checkpoint(root / "bert-baseline" / "best", encoder=encoder, seed=1, outside_bias=outside_bias)
    make_checkpoint(
        root / "enpar" / "best",
        encoder=encoder,
        seed=2,
        init=str(root / "enpar-pretrain"),
        outside_bias=outside_bias,
    )
    return root


def load_script(name: str) -> ModuleType:
    """scripts/NAME.py imported as a module (the scripts folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
