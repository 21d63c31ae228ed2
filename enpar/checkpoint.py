"""Self-contained checkpoint folders; loading never unpickles anything.

    <ckpt>/config.json         format, format_version, kind ("finetune" | "pretrain"), model config,
                               other configs, label vocabularies, file list, sha256 of the weights
    <ckpt>/model.safetensors   the state dict
    <ckpt>/tokenizer/...       the tokenizer files (save_pretrained)
    <ckpt>/encoder/config.json the sentence encoder's Hugging Face config: the architecture is rebuilt
                               from it, so the original encoder weights are not needed
    <ckpt>/decoding.json       optional: prediction-time decoding (enpar.decoding); the only file
                               written after training, never config.json or the weights

`load_checkpoint` refuses anything else with a CheckpointError naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from enpar.config import Labels, ModelConfig
from enpar.runtime import unwrap
from enpar.schema import InputError
from enpar.storage import save_tensors, write_json

FORMAT = "enpar-checkpoint"
FORMAT_VERSION = 1
KINDS = ("finetune", "pretrain")
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
TOKENIZER_DIR = "tokenizer"
ENCODER_DIR = "encoder"
# torch.save / pickle outputs: never loaded, and their presence makes the folder suspect
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


class CheckpointError(InputError):
    """A checkpoint folder that is missing a file, has the wrong version, or holds foreign content."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}")


@dataclass
class Checkpoint:
    path: Path
    kind: str
    model_config: ModelConfig
    labels: Labels | None
    config: dict[str, Any]  # the whole config.json
    state_dict: dict[str, torch.Tensor] = field(repr=False)

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / TOKENIZER_DIR

    @property
    def encoder_dir(self) -> Path:
        return self.path / ENCODER_DIR

    def hf_config(self) -> Any:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(str(self.encoder_dir))

    def tokenizer(self) -> Any:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(self.tokenizer_dir))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _encoder_hf_config(model: nn.Module) -> Any:
    from enpar.encoders import SentenceEncoder

    for module in unwrap(model).modules():
        if isinstance(module, SentenceEncoder):
            return module.model.config
    raise ValueError("the model has no SentenceEncoder")


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    kind: str,
    model_config: ModelConfig,
    tokenizer: Any,
    labels: Labels | None = None,
    configs: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder (replacing one already there). `configs` holds other config dicts by
    name (e.g. {"finetune": FinetuneConfig.to_dict()}); `extra` any JSON (scores, data paths, ...)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_tensors(tmp / WEIGHTS, unwrap(model).state_dict(), metadata={"format": FORMAT, "kind": kind})
    tok_files = [Path(p).name for p in tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))]
    tok_files = sorted({f for f in tok_files if (tmp / TOKENIZER_DIR / f).is_file()})
    _encoder_hf_config(model).save_pretrained(str(tmp / ENCODER_DIR))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "model": model_config.to_dict(),
        "labels": labels.to_dict() if labels is not None else None,
        "configs": configs or {},
        "extra": extra or {},
        "files": {"weights": WEIGHTS, "tokenizer": tok_files, "encoder": [f"{ENCODER_DIR}/config.json"]},
        "sha256": {WEIGHTS: _sha256(tmp / WEIGHTS)},
    }
    write_json(tmp / CONFIG, config)
    if path.exists():
        old = path.with_name(path.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)
    return path


def _read_json(path: Path, missing: str) -> Any:
    """The JSON in file `path`; CheckpointError `missing` where there is no such file, or on bad JSON."""
    if not path.is_file():
        raise CheckpointError(path, missing)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(path, f"not valid JSON ({exc})") from None


def _read_config(path: Path) -> dict[str, Any]:
    cfg_path = path / CONFIG
    config = _read_json(cfg_path, "missing: not an ENPAR checkpoint folder")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        hint = (
            " (it looks like a Hugging Face config)"
            if isinstance(config, dict) and "model_type" in config
            else ""
        )
        raise CheckpointError(cfg_path, f"not an ENPAR checkpoint config{hint}")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            cfg_path,
            f"format version {config.get('format_version')!r}; this code reads version {FORMAT_VERSION}",
        )
    if config.get("kind") not in KINDS:
        raise CheckpointError(cfg_path, f"unknown kind {config.get('kind')!r}; expected one of {KINDS}")
    return config


def _check_weights_file(wpath: Path) -> None:
    if not wpath.is_file():
        raise CheckpointError(wpath, "missing")
    with wpath.open("rb") as fh:
        head = fh.read(9)
    # safetensors: an 8-byte little-endian header length, then the JSON header. Checked first, because a
    # valid header length can itself start with the pickle marker byte 0x80.
    header_len = int.from_bytes(head[:8], "little")
    if len(head) == 9 and head[8:] == b"{" and header_len <= wpath.stat().st_size - 8:
        return
    if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":
        raise CheckpointError(
            wpath, "is a pickle / torch.save file; refusing to unpickle it (need safetensors)"
        )
    raise CheckpointError(wpath, "truncated or not a safetensors file")


def verify_checkpoint(path: str | Path, *, kind: str | None = None) -> dict[str, Any]:
    """All structural checks without reading the weights; returns config.json."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(
            path, "not a folder (a checkpoint is a folder with config.json and model.safetensors)"
        )
    for p in sorted(path.rglob("*")):
        if p.suffix.lower() in PICKLE_SUFFIXES:
            raise CheckpointError(p, "pickled files are not allowed in a checkpoint (never unpickled)")
    config = _read_config(path)
    if kind is not None and config["kind"] != kind:
        raise CheckpointError(path / CONFIG, f"kind is {config['kind']!r}, expected {kind!r}")
    _check_weights_file(path / WEIGHTS)
    files = config.get("files") or {}
    tok_files = files.get("tokenizer") or []
    if not tok_files:
        raise CheckpointError(path / CONFIG, "lists no tokenizer files")
    for name in tok_files:
        if not (path / TOKENIZER_DIR / name).is_file():
            raise CheckpointError(path / TOKENIZER_DIR / name, "missing")
    enc = path / ENCODER_DIR / "config.json"
    enc_cfg = _read_json(enc, "missing (the encoder's Hugging Face config)")
    if not isinstance(enc_cfg, dict) or "model_type" not in enc_cfg:
        raise CheckpointError(enc, "not a Hugging Face model config (no model_type)")
    if config["kind"] == "finetune" and not config.get("labels"):
        raise CheckpointError(path / CONFIG, "a fine-tuned checkpoint needs label vocabularies")
    return config


def load_checkpoint(path: str | Path, *, kind: str | None = None, verify_hash: bool = True) -> Checkpoint:
    """Verify and read a checkpoint folder (weights on CPU)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    config = verify_checkpoint(path, kind=kind)
    wpath = path / WEIGHTS
    expected = (config.get("sha256") or {}).get(WEIGHTS)
    if verify_hash and expected and _sha256(wpath) != expected:
        raise CheckpointError(wpath, "sha256 differs from config.json (a foreign or modified weights file)")
    try:
        state = load_file(str(wpath))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(wpath, f"not a readable safetensors file ({exc})") from None
    try:
        model_config = ModelConfig.from_dict(config.get("model") or {})
        labels = Labels.from_dict(config["labels"]) if config.get("labels") else None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path / CONFIG, str(exc)) from None
    return Checkpoint(path, config["kind"], model_config, labels, config, state)


def load_joint_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[Any, Checkpoint]:
    """A fine-tuned JointModel (eval mode, on `device`) and its Checkpoint."""
    from enpar.model import JointModel

    ckpt = load_checkpoint(path, kind="finetune")
    assert ckpt.labels is not None
    model = JointModel.build(ckpt.model_config, ckpt.labels, hf_config=ckpt.hf_config())
    own = set(model.state_dict())
    missing, unexpected = sorted(own - set(ckpt.state_dict)), sorted(set(ckpt.state_dict) - own)
    if missing or unexpected:
        raise CheckpointError(
            ckpt.path / WEIGHTS,
            f"weights do not fit the model: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})",
        )
    try:
        model.load_state_dict(ckpt.state_dict)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(ckpt.path / WEIGHTS, f"weights do not fit the model: {exc}") from None
    ckpt.state_dict = {}  # the model holds the weights now
    return model.to(device).eval(), ckpt


def transfer_encoder(
    model: nn.Module, state: dict[str, torch.Tensor], *, mode: str = "full"
) -> dict[str, Any]:
    """Copy pre-trained weights into `model`: every `encoder.*` tensor ("full") or only
    `encoder.sentence.*` ("sentence", the paper's "- CNN" ablation) whose name and shape match; task
    heads are never transferred. Returns counts for the log."""
    if mode not in ("full", "sentence"):
        raise ValueError("mode must be 'full' or 'sentence'")
    prefix = "encoder." if mode == "full" else "encoder.sentence."
    own = unwrap(model).state_dict()
    take = {k: v for k, v in state.items() if k.startswith(prefix) and k in own and own[k].shape == v.shape}
    skipped = sorted(k for k in state if k.startswith(prefix) and k not in take)
    unwrap(model).load_state_dict(take, strict=False)
    untouched = sorted(k for k in own if k.startswith(prefix) and k not in take)
    return {"loaded": len(take), "skipped": skipped, "not_in_checkpoint": untouched}
