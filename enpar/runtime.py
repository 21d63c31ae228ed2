"""Process-level torch setup: threads, offline mode, device choice and torchrun (DDP) helpers."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist


def setup_torch(threads: int | None = None) -> None:
    """Use every core (torch defaults to physical cores, often fewer) and never touch the Hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if threads is None:  # ENPAR_THREADS / OMP_NUM_THREADS win, else every core
        env = os.environ.get("ENPAR_THREADS") or os.environ.get("OMP_NUM_THREADS")
        threads = int(env) if env and env.isdigit() and int(env) > 0 else None
    if threads is None:
        threads = os.cpu_count() or 1
        if is_distributed_env():  # share the cores between the local processes
            threads = max(1, threads // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(threads)
    try:  # quiet weight-loading reports and progress bars; our own tqdm is the progress
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def pick_device(prefer: str | None = None) -> torch.device:
    """'cuda' (this process's local GPU under torchrun) when available, else CPU; `prefer` overrides."""
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank() if is_distributed_env() else torch.cuda.current_device())
    return torch.device("cpu")


def autocast(device: torch.device, enabled: bool = True) -> Any:
    """bf16 autocast on GPU (no loss scaling needed); a no-op context on CPU."""
    use = enabled and device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use)


# --- torchrun / DDP ---------------------------------------------------------------------------------


def is_distributed_env() -> bool:
    """True when launched by torchrun with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_distributed() -> bool:
    """Join the torchrun process group (nccl on GPU, gloo on CPU); returns whether DDP is active."""
    if not is_distributed_env():
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    return True


def cleanup_distributed(*, finished: bool = True) -> None:
    """Leave the process group. DDP wrappers sit in reference cycles that hold it: left to interpreter
    shutdown, gloo's threads were once torn down mid-flight (SIGABRT, "terminate called without an active
    exception") in a CI run, so collect them first and, after a finished run, let no rank tear down while
    another still works. After a failure there is no barrier: the other ranks may never reach it."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def process_group_scope() -> Iterator[None]:
    """Run a command's work, then leave the process group (if one was joined): with a barrier after
    success, without one after a failure."""
    try:
        yield
    except BaseException:
        cleanup_distributed(finished=False)
        raise
    cleanup_distributed()


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """Only rank 0 writes files, logs and shows progress bars."""
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s object on every rank (e.g. the model-selection decision)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare module under DistributedDataParallel / torch.compile wrappers."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)
