"""Choose the entity decision threshold (ModelConfig.entity_none_bias) on dev: one value shared by the
checkpoints of one setting (its seeds), the grid point with the best mean selection score (entity F1 + exact
relation F1; ties go to the smaller bias). Training is not touched; the threshold only moves predictions.

    .venv/bin/python scripts/tune_entity_bias.py runs/scierc-NAME-seed*/best \
        --dev ../shared/data/scierc/dev.json --out results/scierc-NAME/entity_bias.json [--write]

--write stores the chosen value in each checkpoint's config.json (model.entity_none_bias), so `enpar
evaluate` / `enpar predict` / the app use it; the weights are not rewritten. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from tqdm import tqdm

from enpar.checkpoint import CONFIG
from enpar.data import make_examples
from enpar.finetune import entity_bias_sweep
from enpar.predict import Predictor
from enpar.readers import read_dataset
from enpar.runtime import setup_torch
from enpar.training import write_json

GRID = (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="fine-tuned checkpoint folders")
    parser.add_argument("--dev", type=Path, required=True, help="dev data (any format enpar reads)")
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    parser.add_argument("--grid", type=float, nargs="+", default=list(GRID), help=f"biases (default {GRID})")
    parser.add_argument("--write", action="store_true", help="store the choice in each checkpoint")
    args = parser.parse_args(argv)
    setup_torch()
    dev = read_dataset(args.dev)
    grid = sorted(set(args.grid), key=lambda b: (abs(b), b))  # ties: the first seen, i.e. the smaller bias
    per_checkpoint: dict[str, dict[float, dict[str, float]]] = {}
    bar = tqdm(total=len(args.checkpoints) * len(grid), desc="dev sweep", file=sys.stderr)
    for path in args.checkpoints:
        predictor = Predictor.from_checkpoint(path, device="cpu")
        examples = make_examples(dev, predictor.tokenizer, predictor.labels)
        per_checkpoint[str(path)] = entity_bias_sweep(
            predictor.model,
            examples,
            predictor.specials,
            grid,
            device=predictor.device,
            progress=lambda _bias: bar.update(1),
        )
    bar.close()
    mean = {b: statistics.mean(s[b]["score"] for s in per_checkpoint.values()) for b in grid}
    chosen = max(grid, key=lambda b: mean[b])  # max keeps the first of equal values
    print(f"{'bias':>6} {'mean score':>10}  " + "  ".join(Path(p).parent.name[-8:] for p in per_checkpoint))
    for b in sorted(grid):
        cells = "  ".join(f"{s[b]['score']:.4f}".rjust(8) for s in per_checkpoint.values())
        print(f"{b:6.2f} {mean[b]:10.4f}  {cells}{'  <- chosen' if b == chosen else ''}")
    result = {
        "dev": str(args.dev),
        "grid": sorted(grid),
        "chosen": chosen,
        "mean_score": {str(b): round(mean[b], 6) for b in sorted(grid)},
        "checkpoints": {p: {str(b): v for b, v in sorted(s.items())} for p, s in per_checkpoint.items()},
        "written": bool(args.write),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"chosen entity_none_bias {chosen} (mean dev score {mean[chosen]:.4f}); wrote {args.out}")
    if args.write:
        for path in args.checkpoints:
            config_path = path / CONFIG  # the weights and their hash stay as they are
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config["model"]["entity_none_bias"] = chosen
            config["entity_none_bias_tuned_on"] = str(args.dev)
            write_json(config_path, config)
        print(f"stored in {len(args.checkpoints)} checkpoint config(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
