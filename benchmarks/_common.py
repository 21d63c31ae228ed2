"""Setup shared by the SciERC benchmarks (bench_inference.py, bench_train.py): the repository on sys.path,
the common command-line options, torch set-up, device sync, peak memory and the JSON report."""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "scierc" / "test.json"


def scierc_parser(doc: str) -> argparse.ArgumentParser:
    """A parser described by the docstring's first line, with --data (default: SciERC test)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    return ap


def parse_and_setup(ap: argparse.ArgumentParser, result_name: str) -> argparse.Namespace | None:
    """Adds --device and --out (benchmarks/results/<result_name>) and parses. None (after printing
    'skipped') when --data is missing; otherwise torch is set up and the arguments are returned."""
    ap.add_argument("--device", default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / result_name)
    args = ap.parse_args()
    if not args.data.exists():
        print(f"skipped: {args.data} not found")
        return None

    from enpar.runtime import setup_torch

    setup_torch()
    return args


def sync(device: Any) -> None:
    """Wait for queued CUDA work so that wall-clock times are complete."""
    if device.type == "cuda":
        import torch

        torch.cuda.synchronize()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mb(device: Any) -> float:
    """CUDA peak allocation on GPU, else the process peak RSS (MB)."""
    if device.type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return rss_mb()


def report_header(name: str, device: Any) -> dict[str, Any]:
    import torch

    return {
        "benchmark": name,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
