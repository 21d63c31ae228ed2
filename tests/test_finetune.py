"""Fine-tuning pieces: scheduled sampling, optimiser groups, schedule, the loop, its run folder and resume."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from studio_helpers import load_script

from enpar.config import FinetuneConfig, ModelConfig
from enpar.data import bucketed_batches, build_labels, gold_for, relation_key
from enpar.finetune import finetune, gold_probability, sampling_coins, selection_score, weight_average
from enpar.model import JointModel
from enpar.schema import Entity, Relation, Sentence
from enpar.training import (
    build_optimizer,
    linear_schedule,
    load_trainer_state,
    param_groups,
    save_trainer_state,
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
    heads = {
        n: g["lr"] for g in param_groups(model, lr, 0.01, layer_decay=0.9, head_lr=1e-3) for n in g["names"]
    }
    assert heads["encoder.context.cnn.convs.0.weight"] == heads["relation_head.weight"] == 1e-3
    assert heads[enc + "encoder.layer.1.attention.self.query.weight"] == pytest.approx(lr)
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


def test_tune_threshold_script_sweeps_chooses_and_writes(run_dir: Path, tmp_path: Path) -> None:
    import shutil

    from enpar.predict import Predictor
    from enpar.schema import write_jsonl

    script = load_script("tune_threshold")
    ckpt = shutil.copytree(run_dir / "best", tmp_path / "best")
    write_jsonl(_sentences(4, "dv"), tmp_path / "dev.jsonl")

    def sweep_args(field: str) -> tuple[Path, list[str]]:
        out = tmp_path / f"{field}.json"
        return out, [str(ckpt), "--dev", str(tmp_path / "dev.jsonl"), "--out", str(out), "--field", field]

    for field in ("entity_none_bias", "tag_outside_bias", "relation_none_bias"):
        out, argv = sweep_args(field)
        argv = argv[:-2] if field == "entity_none_bias" else argv  # the default field
        assert script.main([*argv, "--grid", "50", "0", "-50", "--write"]) == 0
        result = json.loads(out.read_text())
        sweep = result["checkpoints"][str(ckpt)]
        assert result["field"] == field
        assert result["grid"] == [-50.0, 0.0, 50.0] and set(sweep) == {"-50.0", "0.0", "50.0"}
        # None / O always wins: nothing predicted (entities, or for the relation threshold relations)
        assert sweep["50.0"]["relation" if field == "relation_none_bias" else "entity"] == 0.0
        assert result["mean_score"][str(result["chosen"])] == max(result["mean_score"].values())
        assert getattr(Predictor.from_checkpoint(ckpt, device="cpu").model.config, field) == result["chosen"]
    out, argv = sweep_args("tag_decoder")
    assert script.main([*argv, "--write"]) == 0
    result = json.loads(out.read_text())
    assert result["grid"] == ["lenient", "viterbi"] and result["chosen"] in result["grid"]
    assert set(result["checkpoints"][str(ckpt)]) == {"lenient", "viterbi"}
    assert Predictor.from_checkpoint(ckpt, device="cpu").model.config.tag_decoder == result["chosen"]
    out, argv = sweep_args("document_type_vote")
    assert script.main([*argv, "--grid", "on", "--write"]) == 0  # a one-value grid: the choice is forced
    result = json.loads(out.read_text())
    assert result["grid"] == ["on"] and result["chosen"] == "on"
    assert json.loads((ckpt / "config.json").read_text())["model"]["document_type_vote"] is True  # a bool
    assert Predictor.from_checkpoint(ckpt, device="cpu").model.config.document_type_vote is True
    overridden = Predictor.from_checkpoint(
        ckpt,
        device="cpu",
        entity_none_bias=7.0,
        tag_outside_bias=-1.0,
        tag_decoder="viterbi",
        relation_none_bias=-2.0,
        document_type_vote=False,
    )
    assert overridden.model.config.document_type_vote is False
    assert overridden.model.config.entity_none_bias == 7.0
    assert overridden.model.config.tag_outside_bias == -1.0
    assert overridden.model.config.tag_decoder == "viterbi"
    assert overridden.model.config.relation_none_bias == -2.0


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


def test_weight_average_is_an_exponential_moving_average() -> None:
    assert weight_average(torch.nn.Linear(2, 2), 0.0) is None
    with pytest.raises(ValueError, match="ema_decay"):
        weight_average(torch.nn.Linear(2, 2), 1.0)
    lin = torch.nn.Linear(2, 1, bias=False)
    avg = weight_average(lin, 0.9)
    history = []
    for value in (1.0, 2.0, 4.0):  # the first update copies, later ones move 10% of the way
        lin.weight.data.fill_(value)
        avg.update_parameters(lin)
        history.append(float(avg.module.weight[0, 0].detach()))
    assert history == pytest.approx([1.0, 1.1, 1.39])


def test_weight_average_run_selects_it_logs_raw_and_resumes(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from enpar.checkpoint import load_joint_model

    cfg = FinetuneConfig(epochs=2, batch_size=4, lr=1e-3, eval_from_epoch=1, schedule_epochs=2, ema_decay=0.5)

    def after_first_epoch(run: Path) -> None:
        # epoch 1 (the first evaluation, so the best): best/ holds the averaged weights, not the raw ones
        state = load_file(str(run / "state" / "trainer.safetensors"))
        best = load_file(str(run / "best" / "model.safetensors"))
        assert torch.equal(best["tagger.weight"], state["averaged.module.tagger.weight"])
        assert not torch.equal(best["tagger.weight"], state["model.tagger.weight"])
        assert load_joint_model(run / "best")[0].tagger.weight.equal(best["tagger.weight"])

    la, lb = _straight_and_resumed(tiny_encoder_dir, tmp_path, cfg, after_first_epoch)
    assert all("dev_raw" in x and "dev_raw_score" in x for x in la + lb)
    assert [x["dev_score"] for x in la] == pytest.approx([x["dev_score"] for x in lb], abs=1e-6)
    averages = []
    for name in ("a", "b"):
        state = load_file(str(tmp_path / name / "state" / "trainer.safetensors"))
        prefix = "averaged.module."
        averaged = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        raw = {k[len("model.") :]: v for k, v in state.items() if k.startswith("model.")}
        assert averaged.keys() == raw.keys() and int(state["averaged.n_averaged"]) == 4  # 2 steps x 2 epochs
        assert not torch.equal(averaged["tagger.weight"], raw["tagger.weight"])
        averages.append(averaged)
    for key, value in averages[0].items():
        assert torch.allclose(value, averages[1][key], atol=1e-5), key  # resume restored the average
    # a state saved without an average cannot restore one
    lin = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(lin.parameters())
    save_trainer_state(tmp_path / "plain", model=lin, optimizer=opt)
    with pytest.raises(ValueError, match="no weight average"):
        load_trainer_state(tmp_path / "plain", model=lin, optimizer=opt, averaged=weight_average(lin, 0.5))


@pytest.mark.distributed
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


def test_document_context_run_logs_coverage_and_its_checkpoint_reads_context(
    tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    from enpar.predict import Predictor

    out = tmp_path / "ctx"
    finetune(
        _sentences(4, "tr") + [Sentence("alone", ("no", "document"))],
        _sentences(2, "dv"),
        out,
        model_config=ModelConfig(encoder=str(tiny_encoder_dir), context_words=4),
        config=FinetuneConfig(epochs=1, batch_size=4, eval_from_epoch=1),
        show_progress=False,
    )
    log = (out / "log.txt").read_text()
    assert "train document context: 4 of 5 sentences" in log and "dev document context: 2 of 2" in log
    predictor = Predictor.from_checkpoint(out / "best", device="cpu")
    assert predictor.model.config.context_words == 4
    assert all(ex.left or ex.right for ex in predictor.examples(_sentences(2, "x")))
