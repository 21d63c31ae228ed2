"""Files written atomically (a crash never leaves half a file): safetensors weights and JSON. Shared by
checkpoints (inference) and the trainers' state, so that inference needs no training module."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU copies where storage is shared (tied weights), which safetensors refuses."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for key, t in tensors.items():
        t = t.detach()
        ident = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else (0, id(t))
        out[key] = t.to("cpu").contiguous().clone() if ident in seen else t.to("cpu").contiguous()
        seen.add(ident)
    return out


def save_tensors(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """safetensors file, written to a temporary name first so a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(_unshared(tensors), str(tmp), metadata=metadata)
    os.replace(tmp, path)


def truncate_jsonl(path: str | Path, key: str, last: int) -> None:
    """Drop the JSON lines whose `key` (epoch, step) is past `last`: a resumed run rewrites them."""
    path = Path(path)
    if not path.is_file():
        return
    keep = [
        ln
        for ln in path.read_text(encoding="utf-8").splitlines()
        if ln.strip() and json.loads(ln).get(key, 0) <= last
    ]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
