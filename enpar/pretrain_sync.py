"""Keeping pre-training processes in step without DDP wrappers: one parameter broadcast at the start, one
flat gradient all-reduce per step, dropout seeds that depend only on the stream and micro-batch number, and
an end-of-run weights fingerprint per process."""

from __future__ import annotations

from typing import Any

import torch

from enpar.pretrain_data import OBJECTIVES
from enpar.runtime import world_size


def micro_seed(seed: int, stream: int, count: int, task: str) -> int:
    return (seed * 1_000_003 + stream * 10_007 + count) * 8 + OBJECTIVES.index(task)


def all_reduce_gradients(params: list[torch.nn.Parameter]) -> None:
    """Sum gradients over processes in one flat buffer (a missing gradient counts as zero)."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    for p, g in zip(params, _unflatten_dense_tensors(flat, grads), strict=True):
        p.grad = g


def broadcast_parameters(model: torch.nn.Module) -> None:
    import torch.distributed as dist

    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)


def fingerprints(model: torch.nn.Module, distributed: bool) -> list[str]:
    """sha256 of every parameter's bytes, gathered from each process (a cheap end-of-run sync check)."""
    import hashlib

    h = hashlib.sha256()
    for name, p in model.state_dict().items():
        h.update(name.encode())
        h.update(p.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    mine = h.hexdigest()
    if not distributed:
        return [mine]
    import torch.distributed as dist

    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, mine)
    return [str(g) for g in gathered]
