"""Data-parallel pre-training and fine-tuning: `torchrun --nproc_per_node 2` with gloo on the CPU.

Pre-training: both processes end with identical weights, and the run equals a 1-process run with the same
effective batch (same streams, same number of micro-steps per optimizer step). Fine-tuning (DDP): both
processes end with identical weights.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "fixtures" / "pretrain_corpus.jsonl"

# lr 1e-3 so that a wrong data layout shows (1-process with 1 stream differs by ~2e-3; matched runs ~3e-8)
PRETRAIN = ["--steps", "3", "--lr", "1e-3", "--save-every", "3", "--accumulate", "2",
            "--micro-batch", "2,2,2,2", "--streams", "2", "--no-progress",
            "--set", "shuffle_buffer=8", "--set", "pool_sentences=100"]  # fmt: skip

# Fine-tuning under torchrun: run enpar.finetune.finetune, then report a hash of this process's weights.
FINETUNE_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, sys
    import torch
    from enpar.runtime import setup_torch, cleanup_distributed, rank
    setup_torch()
    import enpar.finetune as ft
    from enpar.config import FinetuneConfig, ModelConfig
    from enpar.schema import Relation, Sentence, read_jsonl

    built = {}
    original = ft._build_model
    def capture(*args, **kwargs):
        out = original(*args, **kwargs)
        built["model"] = out[0]
        return out
    ft._build_model = capture

    corpus, encoder, out, init = sys.argv[1:5]
    data = [Sentence(s.id, s.tokens, s.entities, (Relation(s.entities[0], s.entities[1], "r"),))
            for s in read_jsonl(corpus)[:12]]
    os.makedirs(out, exist_ok=True)
    ft.finetune(data[:8], data[8:], out, model_config=ModelConfig(encoder=encoder),
                config=FinetuneConfig(epochs=1, batch_size=4, eval_from_epoch=1), init=init,
                show_progress=False)
    h = hashlib.sha256()
    for name, p in built["model"].state_dict().items():
        h.update(name.encode())
        h.update(p.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    with open(os.path.join(out, f"weights-rank{rank()}.sha256"), "w") as fh:
        fh.write(h.hexdigest())
    cleanup_distributed()
    """
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1"
    )
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _torchrun(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess[str]:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not found")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


@pytest.fixture(scope="module")
def two_process_run(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "pretrain2"
    _torchrun(["-m", "enpar.cli", "pretrain", str(CORPUS), "--out", str(out),
               "--encoder", str(tiny_encoder_dir), *PRETRAIN])  # fmt: skip
    return out


def test_pretrain_two_processes_match_one(
    two_process_run: Path, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    summary = json.loads((two_process_run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 3
    fingerprints = summary["weights_sha256"]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]  # ranks in sync

    one = tmp_path / "pretrain1"
    cmd = [sys.executable, "-m", "enpar.cli", "pretrain", str(CORPUS), "--out", str(one), "--encoder",
           str(tiny_encoder_dir), "--threads", "1", *PRETRAIN]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-5000:]
    a = load_file(str(two_process_run / "step-000003" / "model.safetensors"))
    b = load_file(str(one / "step-000003" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-5, f"2-process and 1-process runs differ by {worst}"
    log2 = [json.loads(x) for x in (two_process_run / "log.jsonl").read_text().splitlines()]
    log1 = [json.loads(x) for x in (one / "log.jsonl").read_text().splitlines()]
    for r2, r1 in zip(log2, log1, strict=True):
        assert r2["instances"] == r1["instances"]
        for task, value in r1["losses"].items():
            assert abs(r2["losses"][task] - value) < 1e-4 * max(1.0, abs(value))


def test_finetune_two_processes_stay_in_sync(
    two_process_run: Path, tiny_encoder_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "ddp_finetune.py"
    script.write_text(FINETUNE_SCRIPT, encoding="utf-8")
    out = tmp_path / "ft"
    _torchrun(
        [str(script), str(CORPUS), str(tiny_encoder_dir), str(out), str(two_process_run / "step-000003")]
    )
    hashes = [(out / f"weights-rank{r}.sha256").read_text() for r in (0, 1)]
    assert hashes[0] == hashes[1]
    assert (out / "best" / "model.safetensors").is_file()
