"""Checkpoint folders: round trip, refusal of broken or foreign content, pre-trained weight transfer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from studio_helpers import used_for_sentence
from torch import nn

from enpar.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_joint_model,
    save_checkpoint,
    transfer_encoder,
    verify_checkpoint,
)
from enpar.config import FinetuneConfig, ModelConfig
from enpar.data import Specials, build_labels, collate, make_examples
from enpar.encoding import load_tokenizer
from enpar.finetune import finetune
from enpar.model import EnparEncoder, JointModel

pytestmark = pytest.mark.usefixtures("one_thread")

SENTS = [used_for_sentence(i) for i in range(6)]


@pytest.fixture(scope="module")
def saved(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JointModel]:
    labels = build_labels(SENTS)
    cfg = ModelConfig(encoder=str(tiny_encoder_dir))
    torch.manual_seed(0)
    model = JointModel.build(cfg, labels).eval()
    path = tmp_path_factory.mktemp("ckpt") / "best"
    save_checkpoint(
        path,
        model,
        kind="finetune",
        model_config=cfg,
        tokenizer=load_tokenizer(str(tiny_encoder_dir)),
        labels=labels,
        configs={"finetune": FinetuneConfig().to_dict()},
    )
    return path, model


def _logits(model: JointModel, tok: object) -> torch.Tensor:
    batch = collate(make_examples(SENTS, tok), Specials.of(tok, 128), with_gold=False)
    with torch.no_grad():
        out = model.eval()(batch)
    return out.tag_logits


def test_round_trip_gives_identical_predictions(saved: tuple[Path, JointModel]) -> None:
    path, model = saved
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json",
        "encoder",
        "model.safetensors",
        "tokenizer",
    ]
    config = json.loads((path / "config.json").read_text())
    assert config["format_version"] == 1 and config["kind"] == "finetune"
    assert config["labels"]["relation"] == ["None", "USED-FOR@>"]
    loaded, ckpt = load_joint_model(path)
    tok = ckpt.tokenizer()
    torch.testing.assert_close(_logits(loaded, tok), _logits(model, tok), rtol=0, atol=0)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_old_configs_load_while_removed_options_hold_their_paper_value(
    saved: tuple[Path, JointModel], tmp_path: Path
) -> None:
    """A checkpoint written before the options that lost on dev left the code still loads where they
    were off (and its document type vote becomes its decoding); another value is refused by name."""
    from enpar.decoding import read_decoding

    old = _broken(saved[0], tmp_path)
    config = json.loads((old / "config.json").read_text())
    removed = {"span_candidates": 0, "tag_decoder": "lenient", "context_words": 0, "document_type_vote": True}
    config["model"].update(removed)
    (old / "config.json").write_text(json.dumps(config))
    model, ckpt = load_joint_model(old)
    assert ckpt.model_config == saved[1].config
    assert read_decoding(old).document_type_vote is True
    config["model"]["tag_decoder"] = "viterbi"
    (old / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="'tag_decoder' = 'viterbi' was not adopted") as info:
        load_joint_model(old)
    assert str(old / "config.json") in str(info.value)


def _broken(saved_path: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ckpt"
    shutil.copytree(saved_path, dst)
    return dst


@pytest.mark.parametrize(
    ("breakage", "file", "message"),
    [
        (lambda p: (p / "config.json").unlink(), "config.json", "missing"),
        (lambda p: (p / "model.safetensors").unlink(), "model.safetensors", "missing"),
        (lambda p: shutil.rmtree(p / "encoder"), "encoder/config.json", "missing"),
        (lambda p: (p / "tokenizer" / "tokenizer_config.json").unlink(), "tokenizer_config.json", "missing"),
        (lambda p: _edit(p, format_version=99), "config.json", "format version 99"),
        (lambda p: _edit(p, kind="weird"), "config.json", "unknown kind"),
        (lambda p: (p / "config.json").write_text('{"model_type": "bert"}'), "config.json", "Hugging Face"),
        (lambda p: (p / "config.json").write_text("{not json"), "config.json", "not valid JSON"),
        (lambda p: torch.save({"x": torch.zeros(1)}, p / "model.safetensors"), "model.safetensors", "pickle"),
        (lambda p: (p / "model.safetensors").write_bytes(b"\x05\x00"), "model.safetensors", "truncated"),
        (lambda p: (p / "pytorch_model.bin").write_bytes(b"\x80\x02"), "pytorch_model.bin", "pickled"),
        (lambda p: _swap_weights(p), "model.safetensors", "sha256"),
    ],
)
def test_refuses_broken_checkpoints(saved, tmp_path: Path, breakage, file: str, message: str) -> None:
    path = _broken(saved[0], tmp_path)
    breakage(path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_joint_model(path)
    assert file in str(info.value)


def _edit(path: Path, **changes: object) -> None:
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def _swap_weights(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(path / "model.safetensors"))
    state["tagger.bias"] = state["tagger.bias"] + 1
    save_file(state, str(path / "model.safetensors"))


def test_refuses_wrong_kind_and_non_folders(saved, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="expected 'pretrain'"):
        verify_checkpoint(saved[0], kind="pretrain")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        load_checkpoint(tmp_path / "file")


def test_refuses_weights_that_do_not_fit(saved, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from enpar.checkpoint import _sha256
    from enpar.training import save_tensors

    path = _broken(saved[0], tmp_path)
    state = load_file(str(path / "model.safetensors"))
    del state["tagger.bias"]
    save_tensors(path / "model.safetensors", state)
    _edit(
        path, sha256={"model.safetensors": _sha256(path / "model.safetensors")}
    )  # consistent, but incomplete
    with pytest.raises(CheckpointError, match="1 missing"):
        load_joint_model(path)


class _Pretrained(nn.Module):
    """What the pre-training stage saves: the ENPAR encoder plus objective heads."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.encoder = EnparEncoder.build(cfg)
        self.met_decoder = nn.Linear(192, 19)


@pytest.mark.parametrize("mode", ["full", "sentence"])
def test_init_from_pretrained_checkpoint(tiny_encoder_dir: Path, tmp_path: Path, mode: str) -> None:
    cfg = ModelConfig(encoder=str(tiny_encoder_dir), encoder_dropout=0.0)
    torch.manual_seed(1)
    pre = _Pretrained(cfg)
    with torch.no_grad():
        for p in pre.parameters():
            p.add_(0.5)  # distinguishable from any fresh initialisation
    save_checkpoint(
        tmp_path / "pre",
        pre,
        kind="pretrain",
        model_config=cfg,
        tokenizer=load_tokenizer(str(tiny_encoder_dir)),
        configs={"pretrain": {"steps": 1}},
    )
    labels = build_labels(SENTS)
    model = JointModel.build(ModelConfig(encoder=str(tiny_encoder_dir)), labels)
    info = transfer_encoder(model, load_checkpoint(tmp_path / "pre", kind="pretrain").state_dict, mode=mode)
    ref = pre.state_dict()
    got = model.state_dict()
    assert torch.equal(
        got["encoder.sentence.model.embeddings.word_embeddings.weight"],
        ref["encoder.sentence.model.embeddings.word_embeddings.weight"],
    )
    same_cnn = torch.equal(got["encoder.entity.cnn.convs.0.weight"], ref["encoder.entity.cnn.convs.0.weight"])
    assert same_cnn == (mode == "full")
    assert not info["skipped"] and info["loaded"] > 0
    assert "met_decoder.weight" not in got


def test_finetune_with_init_runs(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    cfg = ModelConfig(encoder=str(tiny_encoder_dir), encoder_dropout=0.0)
    pre = _Pretrained(cfg)
    save_checkpoint(
        tmp_path / "pre",
        pre,
        kind="pretrain",
        model_config=cfg,
        tokenizer=load_tokenizer(str(tiny_encoder_dir)),
    )
    summary = finetune(
        SENTS[:4],
        SENTS[4:],
        tmp_path / "run",
        config=FinetuneConfig(epochs=1, batch_size=4),
        init=str(tmp_path / "pre"),
        init_mode="sentence",
        show_progress=False,
    )
    assert Path(summary["best_dir"]).is_dir()
    run_cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert run_cfg["init_mode"] == "sentence" and run_cfg["model"]["encoder_dropout"] == 0.1
    assert "init from" in (tmp_path / "run" / "log.txt").read_text()
    with pytest.raises(CheckpointError, match="expected 'pretrain'"):
        finetune(
            SENTS[:4],
            SENTS[4:],
            tmp_path / "run2",
            config=FinetuneConfig(epochs=1),
            init=summary["best_dir"],
            show_progress=False,
        )


def test_safetensors_header_length_may_start_with_the_pickle_byte(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from enpar.checkpoint import _check_weights_file

    path = tmp_path / "model.safetensors"
    for pad in range(256):  # grow the JSON header until its length's low byte is 0x80
        save_file({"w": torch.zeros(2)}, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    _check_weights_file(path)  # a valid safetensors file: accepted
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="pickle"):
        _check_weights_file(path)
