"""The pre-training loop on a tiny random BERT: runs, logs, plots, checkpoints, resumes exactly, drops
objectives, and its checkpoint loads into fine-tuning (full and sentence-encoder-only)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from enpar.pretrain import PretrainConfig, pretrain, pretraining_model_config
from enpar.pretrain_data import PretrainDataConfig
from enpar.schema import Relation, Sentence, read_jsonl

CORPUS = Path(__file__).parent / "fixtures" / "pretrain_corpus.jsonl"
DATA = PretrainDataConfig(shuffle_buffer=16, pool_sentences=100)
LOOP = PretrainConfig(steps=4, accumulate=2, micro_batch=(2, 2, 2, 2), save_every=2)


def _run(out: Path, encoder: Path, config: PretrainConfig = LOOP, **kw) -> dict:
    return pretrain(
        CORPUS,
        out,
        model_config=pretraining_model_config(encoder=str(encoder)),
        config=config,
        data_config=DATA,
        show_progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def full_run(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pretrain") / "run"
    _run(out, tiny_encoder_dir)
    return out


def test_loop_logs_checkpoints_and_plot(full_run: Path) -> None:
    from PIL import Image

    from enpar.checkpoint import verify_checkpoint

    rows = [json.loads(x) for x in (full_run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert set(r["losses"]) == {"mep", "met", "pp", "acd"}
        assert all(v > 0 and v == v for v in r["losses"].values())  # finite, positive
        assert r["instances"] == {"mep": 4, "met": 4, "pp": 4, "acd": 4}
    assert rows[0]["lr"] == 0.0 and rows[1]["lr"] > 0  # warmup from 0
    assert sorted(p.name for p in full_run.glob("step-*")) == ["step-000002", "step-000004"]
    cfg = verify_checkpoint(full_run / "step-000004", kind="pretrain")
    assert cfg["extra"]["step"] == 4 and cfg["extra"]["objectives"] == ["mep", "met", "pp", "acd"]
    with Image.open(full_run / "loss_curves.png") as img:
        assert img.format == "PNG" and img.size[0] > 400
    summary = json.loads((full_run / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["final"].endswith("step-000004")


def test_resume_continues_exactly(full_run: Path, tiny_encoder_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "resumed"
    first = _run(out, tiny_encoder_dir, stop_at=2)
    assert first["steps"] == 2 and (out / "state").is_dir()
    with pytest.raises(FileExistsError):
        _run(out, tiny_encoder_dir)
    pretrain("", out, resume=True, show_progress=False)
    a = load_file(str(full_run / "step-000004" / "model.safetensors"))
    b = load_file(str(out / "step-000004" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-6, worst
    logged = [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4]


def test_objective_subset(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    config = replace(LOOP, objectives=("pp", "met"), steps=1)
    _run(tmp_path / "sub", tiny_encoder_dir, config)
    row = json.loads((tmp_path / "sub" / "log.jsonl").read_text().splitlines()[0])
    assert set(row["losses"]) == {"met", "pp"}
    state = load_file(str(tmp_path / "sub" / "step-000001" / "model.safetensors"))
    assert {k.split(".")[1] for k in state if k.startswith("heads.")} == {"met", "pp"}
    for bad in [("mlm", "met"), ("xyz",), ()]:
        with pytest.raises(ValueError, match="objectives"):
            PretrainConfig(objectives=bad)


def _finetune_data() -> list[Sentence]:
    out = []
    for sent in read_jsonl(CORPUS)[:12]:
        ents = sent.entities
        rel = Relation(ents[0], ents[1], "related_to")
        out.append(Sentence(sent.id, sent.tokens, ents, (rel,)))
    return out


@pytest.mark.parametrize("mode", ["full", "sentence"])
def test_checkpoint_loads_into_finetuning(
    full_run: Path, tiny_encoder_dir: Path, tmp_path: Path, mode: str
) -> None:
    from enpar.checkpoint import load_checkpoint, transfer_encoder
    from enpar.config import FinetuneConfig, Labels, ModelConfig
    from enpar.finetune import finetune
    from enpar.model import JointModel

    ckpt = load_checkpoint(full_run / "step-000004", kind="pretrain")
    joint = JointModel.build(
        ckpt.model_config, Labels(("None", "GPE"), ("None", "r@>")), hf_config=ckpt.hf_config()
    )
    info = transfer_encoder(joint, ckpt.state_dict, mode=mode)
    own = joint.state_dict()
    prefix = "encoder." if mode == "full" else "encoder.sentence."
    moved = [k for k in ckpt.state_dict if k.startswith(prefix)]
    assert info["loaded"] == len(moved) > 0 and not info["skipped"]
    assert all(torch.equal(own[k], ckpt.state_dict[k]) for k in moved)
    if mode == "sentence":  # "- CNN": the span encoders keep their fresh initialisation
        assert not torch.equal(
            own["encoder.pair.ff.linear.weight"], ckpt.state_dict["encoder.pair.ff.linear.weight"]
        )

    data = _finetune_data()
    summary = finetune(
        data[:8],
        data[8:],
        tmp_path / "ft",
        model_config=ModelConfig(encoder=str(tiny_encoder_dir)),
        config=FinetuneConfig(epochs=1, batch_size=4, eval_from_epoch=1),
        init=str(full_run / "step-000004"),
        init_mode=mode,
        show_progress=False,
    )
    assert summary["epochs_run"] == 1
    assert (tmp_path / "ft" / "best" / "model.safetensors").is_file()


def test_cli_pretrain(tiny_encoder_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from enpar.cli import main

    out = tmp_path / "cli"
    argv = ["pretrain", str(CORPUS), "--out", str(out), "--encoder", str(tiny_encoder_dir), "--steps", "2",
            "--accumulate", "1", "--micro-batch", "2,2,1,1", "--objectives", "mep,met,acd",
            "--acd-loss", "code", "--no-progress", "--set", "shuffle_buffer=4", "--set", "min_entities=4",
            "--set", "pool_sentences=50"]  # fmt: skip
    assert main(argv) == 0
    saved = json.loads((out / "config.json").read_text())
    assert (
        saved["pretrain"]["objectives"] == ["mep", "met", "acd"] and saved["pretrain"]["acd_loss"] == "code"
    )
    assert saved["data"]["min_entities"] == 4 and saved["data"]["shuffle_buffer"] == 4
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    assert main(["pretrain", "--out", str(out), "--plot"]) == 0
    assert (out / "loss_curves.png").is_file()


def test_log_reports_coverage_and_baselines(full_run: Path) -> None:
    rows = [json.loads(x) for x in (full_run / "log.jsonl").read_text().splitlines()]
    for r in rows:  # one instance per sentence per pass: every draw of a pass is a new sentence
        assert r["distinct"] == dict.fromkeys(("mep", "met", "pp", "acd"), 4 * r["step"])
        assert r["baseline"]["acd"] == 0.5 and 0 <= r["baseline"]["pp"] <= 1
    cov = json.loads((full_run / "summary.json").read_text())["coverage"]
    assert cov["pp"]["distinct_sentences"] == 16 and "baseline_last" in cov["met"]


def test_mlm_arm_checkpoint_loads_into_finetuning(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    from enpar.checkpoint import load_checkpoint, transfer_encoder
    from enpar.config import FinetuneConfig, Labels, ModelConfig
    from enpar.finetune import finetune
    from enpar.model import JointModel

    config = replace(LOOP, objectives=("mlm",), steps=2, save_every=0)
    _run(tmp_path / "mlm", tiny_encoder_dir, config)
    row = json.loads((tmp_path / "mlm" / "log.jsonl").read_text().splitlines()[0])
    assert row["instances"] == {"mlm": 2 * 8} and row["distinct"] == {"mlm": 16}  # sum(micro_batch) each
    saved = json.loads((tmp_path / "mlm" / "config.json").read_text())
    assert saved["mlm_head"].startswith("a fresh head")  # the tiny BERT has no MLM weights
    ckpt = load_checkpoint(tmp_path / "mlm" / "step-000002", kind="pretrain")
    assert {k.split(".")[0] + "." + k.split(".")[1] for k in ckpt.state_dict} == {
        "encoder.sentence",
        "heads.mlm",
    }
    joint = JointModel.build(ckpt.model_config, Labels(("None", "GPE"), ("None", "r@>")), ckpt.hf_config())
    info = transfer_encoder(joint, ckpt.state_dict, mode="full")
    assert info["loaded"] == sum(k.startswith("encoder.sentence.") for k in ckpt.state_dict)
    data = _finetune_data()
    summary = finetune(
        data[:8],
        data[8:],
        tmp_path / "ft",
        model_config=ModelConfig(encoder=str(tiny_encoder_dir)),
        config=FinetuneConfig(epochs=1, batch_size=4, eval_from_epoch=1),
        init=str(tmp_path / "mlm" / "step-000002"),
        show_progress=False,
    )
    assert summary["epochs_run"] == 1


def test_mlm_head_from_the_encoders_own_weights(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForMaskedLM

    from enpar.objectives import MepHead, load_mlm_head

    torch.manual_seed(1)
    BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16)).save_pretrained(tmp_path)  # fmt: skip
    head = MepHead(8, 50)
    assert load_mlm_head(head, tmp_path)
    own = load_file(str(tmp_path / "model.safetensors"))
    assert torch.equal(head.transform.linear.weight, own["cls.predictions.transform.dense.weight"])
    assert not load_mlm_head(MepHead(8, 51), tmp_path)  # another vocabulary: no match, left fresh


@pytest.mark.parametrize("task", ["mlm", "acd", "met"])
def test_chunked_micro_batch_same_loss_and_gradient(tiny_encoder_dir: Path, task: str) -> None:
    from enpar.pretrain import Run, run_task

    config = replace(LOOP, objectives=(task,) if task == "mlm" else ("mep", "met", "pp", "acd"), bf16=False)
    run = _run_stub(tiny_encoder_dir, config)
    instances = run.data.take(0, task, 6)
    grads, losses = [], []
    for tokens in (0, 40):
        run.config = replace(config, chunk_tokens=tokens)
        run.model.zero_grad()
        loss, *_ = run_task(run, task, instances, 1.0)
        losses.append(loss)
        grads.append([p.grad.clone() for p in run.model.parameters() if p.grad is not None])
    assert len(run.data.batches(task, instances, 40)) > 1
    assert abs(losses[0] - losses[1]) < 1e-5
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))
    assert isinstance(run, Run)


def _run_stub(encoder: Path, config: PretrainConfig):
    from enpar.pretrain import Run, _build

    run = Run(Path("unused"), str(CORPUS), pretraining_model_config(encoder=str(encoder)), config, DATA,
              torch.device("cpu"), False, [0], 1)  # fmt: skip
    _build(run, None, resume=False)
    run.model.eval()  # no dropout: chunked and whole passes must agree exactly
    return run
