"""Fine-tuning pieces: scheduled sampling, optimiser groups, schedule, the loop, its run folder and resume."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from enpar.config import FinetuneConfig, Labels, ModelConfig
from enpar.data import bucketed_batches, build_labels, gold_for, relation_key
from enpar.finetune import finetune, gold_probability, sampling_coins, selection_score
from enpar.model import JointModel
from enpar.schema import Entity, Relation, Sentence
from enpar.training import (
    build_optimizer,
    linear_schedule,
    param_groups,
    schedule_steps,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _sentences(n: int, prefix: str) -> list[Sentence]:
    out = []
    for i in range(n):
        a, b, c = Entity(0, 2, "Method"), Entity(3, 4, "Task"), Entity(5, 6, "Metric")
        rels = (
            (Relation(a, b, "USED-FOR"), Relation(c, a, "EVALUATE-FOR"))
            if i % 2
            else (Relation(a, b, "USED-FOR"),)
        )
        toks = tuple(f"we use deep nets for parsing with f1 number {i} .".split())
        out.append(Sentence(f"{prefix}{i}", toks, (a, b, c), rels, doc_id=f"{prefix}doc"))
    return out


def test_scheduled_sampling_values_match_spec() -> None:
    for e in range(6):  # 0-based epochs 0..5: always gold
        assert gold_probability(e) == 1.0
    table = {7: 0.683, 8: 0.606, 10: 0.442, 12: 0.289, 15: 0.130, 20: 0.027, 25: 0.005}  # 1-based
    for epoch1, p in table.items():
        assert gold_probability(epoch1 - 1) == pytest.approx(p, abs=6e-4)
    assert gold_probability(6, k=3.0, pretrain_epochs=5) == pytest.approx(3 / (3 + math.exp(1 / 3)))


def test_sampling_coins_are_independent_and_seeded() -> None:
    tags, ents = sampling_coins(2000, 0.5, random.Random(1))
    assert sampling_coins(2000, 0.5, random.Random(1)) == (tags, ents)
    assert 900 < sum(tags) < 1100 and 900 < sum(ents) < 1100
    assert sum(t != e for t, e in zip(tags, ents, strict=True)) > 800  # not the same coin
    assert sampling_coins(10, 1.0, random.Random(0)) == ([True] * 10, [True] * 10)


def test_relation_keys_and_gold_targets() -> None:
    a, b = Entity(4, 6, "X"), Entity(0, 1, "Y")
    assert relation_key(Relation(a, b, "R")) == (((0, 1), (4, 6)), "R@<")
    assert relation_key(Relation(b, a, "R")) == (((0, 1), (4, 6)), "R@>")
    assert relation_key(Relation(a, a, "R")) is None
    nested = Sentence(
        "n",
        ("a", "b", "c", "d", "e", "f", "g"),
        (Entity(0, 3, "X"), Entity(1, 2, "Y"), b),
        (Relation(Entity(1, 2, "Y"), Entity(0, 3, "X"), "R"),),
    )
    labels = build_labels([nested])
    gold = gold_for(nested, labels)
    assert gold.tag_spans == ((0, 3),)  # tags keep the outer span...
    assert set(gold.entities) == {(0, 3), (1, 2), (0, 1)}  # ...typing keeps every gold span
    assert gold.pairs == {((0, 3), (1, 2)): labels.relation.index("R@<")}


def test_layerwise_learning_rates_and_no_decay(tiny_encoder_dir: Path) -> None:
    labels = build_labels(_sentences(2, "t"))
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), labels)
    lr = 2.5e-5
    lrs: dict[str, float] = {}
    decay: dict[str, float] = {}
    for group in param_groups(model, lr, 0.01, layer_decay=0.9):
        for name in group["names"]:
            lrs[name], decay[name] = group["lr"], group["weight_decay"]
    enc = "encoder.sentence.model."
    assert lrs[enc + "encoder.layer.1.attention.self.query.weight"] == pytest.approx(lr)  # top layer
    assert lrs[enc + "encoder.layer.0.attention.self.query.weight"] == pytest.approx(lr * 0.9)
    assert lrs[enc + "embeddings.word_embeddings.weight"] == pytest.approx(lr * 0.9)  # layer-0 rate
    assert lrs["encoder.context.cnn.convs.0.weight"] == lrs["relation_head.weight"] == pytest.approx(lr)
    assert decay[enc + "encoder.layer.0.output.LayerNorm.weight"] == 0.0
    assert decay["encoder.pair.ff.norm.weight"] == decay["tagger.bias"] == 0.0
    assert decay["tagger.weight"] == decay[enc + "encoder.layer.1.output.dense.weight"] == 0.01
    top = {
        n: g["lr"]
        for g in param_groups(model, lr, 0.01, layer_decay=0.9, embeddings_lr="top")
        for n in g["names"]
    }
    assert top[enc + "embeddings.word_embeddings.weight"] == pytest.approx(lr)
    assert len(lrs) == sum(1 for _ in model.parameters())  # every parameter exactly once
    assert (
        lrs["encoder.context.cnn.convs.0.weight"] == lrs["relation_head.weight"] == lr
    )  # heads: the top rate
    opt = build_optimizer(model, FinetuneConfig())
    assert opt.defaults["eps"] == 1e-6


def test_warmup_then_linear_decay() -> None:
    total, warmup = schedule_steps(100, 32, 10, 0.2)
    assert (total, warmup) == (40, 9)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_schedule(opt, total, warmup)
    lrs = []
    for _ in range(total):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[warmup] == pytest.approx(1.0)
    assert max(lrs) == pytest.approx(1.0) and sched.get_last_lr()[0] == 0.0
    assert all(a <= b for a, b in zip(lrs[:warmup], lrs[1 : warmup + 1], strict=True))


def test_bucketed_batches_cover_everything_once() -> None:
    lengths = [random.Random(i).randint(1, 90) for i in range(300)]
    batches = bucketed_batches(lengths, 32, random.Random(0), pool=4)
    assert sorted(i for b in batches for i in b) == list(range(300))
    assert all(len(b) <= 32 for b in batches)
    assert bucketed_batches(lengths, 32, random.Random(0), pool=4) == batches  # seeded


def test_selection_score() -> None:
    scores = {"entity": {"micro": {"f1": 0.5}}, "relation_strict": {"micro": {"f1": 0.25}}}
    assert selection_score(scores) == 0.75


@pytest.fixture(scope="module")
def run_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ft") / "run"
    cfg = FinetuneConfig(epochs=2, batch_size=4, lr=1e-3, eval_from_epoch=1, pretrain_epochs=0)
    finetune(
        _sentences(8, "tr"),
        _sentences(4, "dv"),
        out,
        model_config=ModelConfig(encoder=str(tiny_encoder_dir)),
        config=cfg,
        show_progress=False,
        data_paths={"train": "x", "dev": "y"},
    )
    return out


def test_run_folder(run_dir: Path) -> None:
    for name in (
        "config.json",
        "log.txt",
        "dev_metrics.jsonl",
        "summary.json",
        "best/config.json",
        "best/model.safetensors",
        "state/trainer.safetensors",
        "state/trainer.json",
    ):
        assert (run_dir / name).is_file(), name
    cfg = json.loads((run_dir / "config.json").read_text())
    assert cfg["finetune"]["epochs"] == 2 and cfg["labels"]["entity"][0] == "None"
    lines = [json.loads(x) for x in (run_dir / "dev_metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert set(lines[0]["dev"]) == {"entity", "relation", "relation_strict"}
    assert lines[1]["p_gold"] < 1.0  # pretrain_epochs=0: epoch 2 already samples
    assert not list(run_dir.glob("**/*.pt")) and not list(run_dir.glob("**/*.bin"))


def test_resume_continues_and_refuses_overwrite(run_dir: Path, tiny_encoder_dir: Path) -> None:
    with pytest.raises(FileExistsError):
        finetune(
            _sentences(8, "tr"),
            _sentences(4, "dv"),
            run_dir,
            config=FinetuneConfig(epochs=1),
            show_progress=False,
        )
    summary = finetune(
        _sentences(8, "tr"),
        _sentences(4, "dv"),
        run_dir,
        config=FinetuneConfig(epochs=3),
        resume=True,
        show_progress=False,
    )
    assert summary["epochs_run"] == 3
    lines = [json.loads(x) for x in (run_dir / "dev_metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2, 3]
    assert lines[2]["step"] == 6  # 2 steps per epoch, continued from step 4
    assert json.loads((run_dir / "state" / "trainer.json").read_text())["meta"]["epoch"] == 3
    with pytest.raises(FileNotFoundError):
        finetune([], [], run_dir.parent / "nothing", resume=True, show_progress=False)


def test_preset_is_recorded_and_gives_best_its_decoding(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    """The preset's decoding goes to best/decoding.json (the checkpoint's own files are never touched
    for it); without a preset best/ gets the default decoding. Predictor reads it, overrides win."""
    from enpar.predict import Predictor

    out = tmp_path / "preset"
    finetune(
        _sentences(4, "tr"),
        _sentences(2, "dv"),
        out,
        model_config=ModelConfig(encoder=str(tiny_encoder_dir)),
        config=FinetuneConfig(epochs=1, batch_size=4, eval_from_epoch=1),
        preset="scierc-cpu",
        show_progress=False,
    )
    assert json.loads((out / "config.json").read_text())["preset"] == "scierc-cpu"
    assert json.loads((out / "best" / "decoding.json").read_text()) == {"document_type_vote": True}
    assert "document_type_vote" not in json.loads((out / "best" / "config.json").read_text())["model"]
    assert Predictor.from_checkpoint(out / "best", device="cpu").decoding.document_type_vote is True
    off = Predictor.from_checkpoint(out / "best", device="cpu", document_type_vote=False)
    assert off.decoding.document_type_vote is False


def test_run_without_preset_gets_default_decoding(run_dir: Path) -> None:
    assert json.loads((run_dir / "config.json").read_text())["preset"] is None
    assert json.loads((run_dir / "best" / "decoding.json").read_text()) == {"document_type_vote": False}


def _metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "dev_metrics.jsonl").read_text().splitlines()]


def _straight_and_resumed(
    tiny_encoder_dir: Path, out: Path, cfg: FinetuneConfig, between: Callable[[Path], None] | None = None
) -> tuple[list[dict], list[dict]]:
    """The same 2-epoch run twice: out/a straight through, out/b stopped after epoch 1 (then `between` looks
    at it) and resumed. Returns both runs' dev_metrics records."""
    train, dev = _sentences(8, "tr"), _sentences(2, "dv")
    mc = ModelConfig(encoder=str(tiny_encoder_dir))
    finetune(train, dev, out / "a", model_config=mc, config=cfg, show_progress=False)
    first = FinetuneConfig(**{**cfg.to_dict(), "epochs": 1, "adam_betas": (0.9, 0.999)})
    finetune(train, dev, out / "b", model_config=mc, config=first, show_progress=False)
    if between is not None:
        between(out / "b")
    finetune(train, dev, out / "b", config=FinetuneConfig(epochs=2), resume=True, show_progress=False)
    return _metrics(out / "a"), _metrics(out / "b")


def test_resume_reproduces_an_uninterrupted_run(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    cfg = FinetuneConfig(epochs=2, batch_size=4, lr=1e-3, eval_from_epoch=9, schedule_epochs=2)
    la, lb = _straight_and_resumed(tiny_encoder_dir, tmp_path, cfg)
    assert [x["train_loss"] for x in la] == pytest.approx([x["train_loss"] for x in lb], rel=1e-5)


def test_torchrun_two_cpu_processes(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from enpar.schema import write_jsonl

    write_jsonl(_sentences(12, "tr"), tmp_path / "train.jsonl")
    write_jsonl(_sentences(4, "dv"), tmp_path / "dev.jsonl")
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [
        str(torchrun),
        "--nproc_per_node",
        "2",
        "-m",
        "enpar.cli",
        "finetune",
        "--train",
        str(tmp_path / "train.jsonl"),
        "--dev",
        str(tmp_path / "dev.jsonl"),
        "--out",
        str(tmp_path / "run"),
        "--encoder",
        str(tiny_encoder_dir),
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    env = {**os.environ, "ENPAR_THREADS": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, env=env, cwd=Path(__file__).resolve().parents[1]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"best_epoch"') == 1  # only rank 0 prints
    lines = [json.loads(x) for x in (tmp_path / "run" / "dev_metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [3, 6]  # global batches of 4 split over 2 ranks: 3 steps per epoch
    assert json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == 2
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def pretrained(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random network saved as a pre-trained checkpoint (only its encoder.* weights are transferred)."""
    from enpar.checkpoint import save_checkpoint
    from enpar.encoding import load_tokenizer
    from enpar.model import JointModel

    cfg = ModelConfig(encoder=str(tiny_encoder_dir), entity_dim=64)
    model = JointModel.build(cfg, Labels(("None", "T"), ("None",)))
    out = tmp_path_factory.mktemp("pt") / "step-000001"
    return save_checkpoint(
        out, model, kind="pretrain", model_config=cfg, tokenizer=load_tokenizer(str(tiny_encoder_dir))
    )


def test_init_applies_run_options_and_refuses_architecture_changes(pretrained: Path, tmp_path: Path) -> None:
    """--init takes the network from the checkpoint; --set dropout etc. apply on top (they used to be
    dropped silently), and an architecture option that differs is refused by name."""
    from enpar.config import init_model_config as _init_config

    base = ModelConfig(entity_dim=64)
    asked = ModelConfig(entity_dim=64, dropout=0.3, encoder_dropout=0.0)
    assert _init_config(base, asked, {"dropout"}, "ckpt").dropout == 0.3
    assert _init_config(base, asked, {"dropout"}, "ckpt").entity_dim == 64
    cnn = replace(base, empty_context="cnn")  # the checkpoint's rule stays unless another is asked for
    assert _init_config(cnn, asked, {"dropout"}, "ckpt").empty_context == "cnn"
    assert _init_config(cnn, asked, {"empty_context"}, "ckpt").empty_context == "learned"
    with pytest.raises(ValueError, match="entity_dim=192 was asked for.*entity_dim=64"):
        _init_config(base, ModelConfig(), {"entity_dim"}, "ckpt")
    train, dev = _sentences(4, "tr"), _sentences(2, "dv")
    cfg = FinetuneConfig(epochs=1, batch_size=4, eval_from_epoch=1)
    finetune(
        train,
        dev,
        tmp_path / "a",
        model_config=ModelConfig(dropout=0.25, cnn_group_columns=512),
        config=cfg,
        init=str(pretrained),
        show_progress=False,
    )
    saved = json.loads((tmp_path / "a" / "config.json").read_text())["model"]
    assert (saved["dropout"], saved["cnn_group_columns"], saved["entity_dim"]) == (0.25, 512, 64)
    with pytest.raises(ValueError, match="context_dim"):
        finetune(
            train,
            dev,
            tmp_path / "b",
            model_config=ModelConfig(context_dim=32),
            config=cfg,
            init=str(pretrained),
            requested={"context_dim"},
            show_progress=False,
        )


def test_cli_preset_and_flags(tmp_path: Path) -> None:
    """--preset gives the settings, explicit flags and --set override it, removed options are named."""
    from enpar.cli import build_parser
    from enpar.commands.finetune import _overrides

    parser = build_parser()
    args = parser.parse_args(["finetune", "--out", "o", "--preset", "scierc-cpu", "--lr", "3e-4"])
    model_kw, ft_kw = _overrides(args)
    assert ft_kw == {"epochs": 30, "batch_size": 8, "lr": 3e-4} and model_kw == {}
    args = parser.parse_args(["finetune", "--out", "o", "--preset", "nope"])
    with pytest.raises(SystemExit, match="unknown preset 'nope'"):
        _overrides(args)
    args = parser.parse_args(["finetune", "--out", "o", "--set", "tag_decoder=viterbi"])
    with pytest.raises(SystemExit, match="'tag_decoder' was not adopted"):
        _overrides(args)
