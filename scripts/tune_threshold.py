"""Choose a decision threshold on dev: one value shared by the checkpoints of one setting (its seeds), the
grid point with the best mean selection score (entity F1 + exact relation F1; ties go to the value nearer 0).
Training is not touched; a threshold only moves predictions. --field picks which (enpar.config.THRESHOLDS):
entity_none_bias (default; added to the entity head's None logit), tag_outside_bias (added to the span
tagger's O logit; negative = more spans), tag_decoder (lenient vs viterbi; ties go to the first listed,
the checkpoint's usual lenient), relation_none_bias (added to the relation head's None logit; negative =
more relations) or document_type_vote (off vs on: one type per mention string and document; ties to off).

    .venv/bin/python scripts/tune_threshold.py runs/scierc-NAME-seed*/best \
        --dev ../shared/data/scierc/dev.json --out results/scierc-NAME/entity_bias.json [--write]
    .venv/bin/python scripts/tune_threshold.py ... --field tag_outside_bias --out .../tag_bias.json
    .venv/bin/python scripts/tune_threshold.py ... --field tag_decoder --out .../tag_decoder.json
    .venv/bin/python scripts/tune_threshold.py ... --field document_type_vote --out .../doc_vote.json

--write stores the chosen value in each checkpoint's config.json (model.FIELD), so `enpar evaluate` /
`enpar predict` / the app use it; the weights are not rewritten. The other threshold stays at each
checkpoint's own value (tune one, --write it, then the other). Prints a table, writes JSON.
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
from enpar.config import TAG_DECODERS, THRESHOLDS, parse_threshold
from enpar.finetune import threshold_sweep
from enpar.predict import Predictor
from enpar.readers import read_dataset
from enpar.runtime import setup_torch
from enpar.training import write_json

GRIDS: dict[str, tuple[float, ...] | tuple[str, ...]] = {
    "entity_none_bias": (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
    "tag_outside_bias": (-4.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0),
    "tag_decoder": TAG_DECODERS,
    "relation_none_bias": (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0),
    "document_type_vote": ("off", "on"),
}
CATEGORICAL = ("tag_decoder", "document_type_vote")  # grids of names, in the order given


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="fine-tuned checkpoint folders")
    parser.add_argument("--dev", type=Path, required=True, help="dev data (any format enpar reads)")
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    parser.add_argument("--field", choices=THRESHOLDS, default=THRESHOLDS[0], help="which threshold")
    parser.add_argument("--grid", nargs="+", default=None, help=f"values (default {GRIDS})")
    parser.add_argument("--write", action="store_true", help="store the choice in each checkpoint")
    args = parser.parse_args(argv)
    setup_torch()
    dev = read_dataset(args.dev)
    values = GRIDS[args.field] if args.grid is None else args.grid
    categorical = args.field in CATEGORICAL
    if categorical:  # in the order given, ties to the first
        grid: list = list(dict.fromkeys(str(v) for v in values))
    else:  # ties: the first seen, i.e. the smaller bias
        grid = sorted({float(v) for v in values}, key=lambda b: (abs(b), b))
    per_checkpoint: dict[str, dict[float, dict[str, float]]] = {}
    bar = tqdm(total=len(args.checkpoints) * len(grid), desc="dev sweep", file=sys.stderr)
    for path in args.checkpoints:
        predictor = Predictor.from_checkpoint(path, device="cpu")
        examples = predictor.examples(dev, predictor.labels)
        per_checkpoint[str(path)] = threshold_sweep(
            predictor.model,
            examples,
            predictor.specials,
            args.field,
            grid,
            device=predictor.device,
            progress=lambda _bias: bar.update(1),
        )
    bar.close()
    mean = {b: statistics.mean(s[b]["score"] for s in per_checkpoint.values()) for b in grid}
    chosen = max(grid, key=lambda b: mean[b])  # max keeps the first of equal values
    print(f"{'value':>7} {'mean score':>10}  " + "  ".join(Path(p).parent.name[-8:] for p in per_checkpoint))
    ordered = grid if categorical else sorted(grid)
    for b in ordered:
        cells = "  ".join(f"{s[b]['score']:.4f}".rjust(8) for s in per_checkpoint.values())
        shown = b if isinstance(b, str) else f"{b:.2f}"
        print(f"{shown:>7} {mean[b]:10.4f}  {cells}{'  <- chosen' if b == chosen else ''}")
    result = {
        "field": args.field,
        "dev": str(args.dev),
        "grid": ordered,
        "chosen": chosen,
        "mean_score": {str(b): round(mean[b], 6) for b in ordered},
        "checkpoints": {p: {str(b): v for b, v in sorted(s.items())} for p, s in per_checkpoint.items()},
        "written": bool(args.write),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(f"chosen {args.field} {chosen} (mean dev score {mean[chosen]:.4f}); wrote {args.out}")
    if args.write:
        for path in args.checkpoints:
            config_path = path / CONFIG  # the weights and their hash stay as they are
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config["model"][args.field] = parse_threshold(args.field, chosen)
            config[f"{args.field}_tuned_on"] = str(args.dev)
            write_json(config_path, config)
        print(f"stored in {len(args.checkpoints)} checkpoint config(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
