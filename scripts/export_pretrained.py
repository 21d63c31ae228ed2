#!/usr/bin/env python
"""A pre-training checkpoint -> a release folder: the encoder weights only (what `enpar finetune --init`
transfers; the pre-training heads are dropped), stored as fp16 safetensors (MiniLM: ~45 MB instead of
~90 MB), with the checkpoint's config (sha256 recomputed), tokenizer and encoder config.

    scripts/export_pretrained.py runs/pretrain-enpar/step-000300 pretrained/enpar-minilm-abstracts
    .venv/bin/python -m enpar.cli finetune --init pretrained/enpar-minilm-abstracts ...   # as any checkpoint

fp16 holds the weights to ~3 significant digits; fine-tuning copies them into its fp32 parameters.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEEP = "encoder."


def export(src: Path, dst: Path, max_mb: float) -> dict[str, object]:
    from enpar.checkpoint import CONFIG, FORMAT, WEIGHTS, _sha256, load_checkpoint
    from enpar.storage import save_tensors, write_json

    ckpt = load_checkpoint(src, kind="pretrain")
    state = {
        k: (v.half() if v.is_floating_point() else v).contiguous()
        for k, v in ckpt.state_dict.items()
        if k.startswith(KEEP)
    }
    if not state:
        raise SystemExit(f"error: {src / WEIGHTS}: no {KEEP}* tensors to export")
    tmp = dst.with_name(dst.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(WEIGHTS))
    save_tensors(tmp / WEIGHTS, state, metadata={"format": FORMAT, "kind": "pretrain"})
    size_mb = (tmp / WEIGHTS).stat().st_size / 1e6
    if size_mb > max_mb:
        shutil.rmtree(tmp)
        raise SystemExit(f"error: {size_mb:.1f} MB of weights is over --max-mb {max_mb}")
    config = json.loads((tmp / CONFIG).read_text(encoding="utf-8"))
    config["sha256"] = {WEIGHTS: _sha256(tmp / WEIGHTS)}
    config.setdefault("extra", {})["export"] = {
        "from": str(src),
        "dtype": "float16",
        "tensors": len(state),
        "dropped": sorted({k.split(".")[1] for k in ckpt.state_dict if not k.startswith(KEEP)}),
    }
    write_json(tmp / CONFIG, config)
    if dst.exists():
        shutil.rmtree(dst)
    tmp.rename(dst)
    load_checkpoint(dst, kind="pretrain")  # what finetune --init will do: verified, hash included
    return {"out": str(dst), "weights_mb": round(size_mb, 1), "tensors": len(state)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path, help="a pre-training checkpoint folder (step-NNNNNN)")
    ap.add_argument("out", type=Path, help="release folder to write (replaced if present)")
    ap.add_argument("--max-mb", type=float, default=50.0, help="refuse weights over this size")
    args = ap.parse_args(argv)
    print(json.dumps(export(args.checkpoint, args.out, args.max_mb)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
