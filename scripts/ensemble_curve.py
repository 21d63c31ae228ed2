"""Every ensemble of a setting's checkpoints, by size: how much each extra member buys on dev and test.

    .venv/bin/python scripts/ensemble_curve.py runs/scierc-NAME-seed{5228,5229,5230,5231}/best \
        --dev ../shared/data/scierc/dev.json --test ../shared/data/scierc/test.json \
        --out results/scierc-NAME/ensemble_curve-seeds5228-5231.json [--sizes 1 2 3 4] \
        [--document-type-vote on|off]

Each checkpoint is loaded once and every subset of each size (itertools.combinations, in the order given)
is read as one model (enpar.ensemble), decoded as the first checkpoint's decoding.json says (as `enpar
evaluate CKPT CKPT ... DATA` does; --document-type-vote overrides it for every subset). Size 1 is each
checkpoint alone, a check against its own run's metrics. Per subset: the dev selection score (entity F1 +
exact relation F1) and the three micro F1s on both sets; per size: mean and standard deviation over its
subsets (subsets of one size share members, so these are not independent samples).
Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

from tqdm import tqdm

from enpar.commands._common import add_decoding_arguments, decoding_overrides
from enpar.ensemble import Ensemble, members_of
from enpar.metrics import CONVENTIONS as F1S
from enpar.predict import Predictor
from enpar.readers import read_dataset
from enpar.runtime import setup_torch
from enpar.selection import evaluate, score_row
from enpar.storage import write_json

SETS = ("dev", "test")


def _mean_sd(values: list[float]) -> dict[str, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 6), "sd": round(sd, 6)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", nargs="+", type=Path, help="fine-tuned checkpoint folders")
    parser.add_argument("--dev", type=Path, required=True, help="dev data (any format enpar reads)")
    parser.add_argument("--test", type=Path, required=True, help="test data")
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="default: 1 .. all")
    parser.add_argument("--batch-size", type=int, default=32)
    add_decoding_arguments(parser)
    args = parser.parse_args(argv)
    n = len(args.checkpoints)
    sizes = args.sizes or list(range(1, n + 1))
    if any(not 1 <= k <= n for k in sizes):
        parser.error(f"--sizes must lie between 1 and the {n} checkpoints given")
    setup_torch()
    t0 = time.perf_counter()
    # from_checkpoints refuses checkpoints that cannot be read as one ensemble (labels, tokenizer, input)
    whole = Predictor.from_checkpoints(
        args.checkpoints, batch_size=args.batch_size, **decoding_overrides(args)
    )
    members = members_of(whole.model)
    examples = {name: whole.examples(read_dataset(getattr(args, name))) for name in SETS}
    names = [str(c) for c in args.checkpoints]
    subsets = [s for k in sizes for s in itertools.combinations(range(n), k)]
    rows = []
    for subset in tqdm(subsets, desc="ensembles", file=sys.stderr):
        model = members[subset[0]] if len(subset) == 1 else Ensemble([members[i] for i in subset])
        row: dict = {"members": [names[i] for i in subset]}
        for name in SETS:
            _, scores = evaluate(
                model,
                examples[name],
                whole.specials,
                device=whole.device,
                batch_size=args.batch_size,
                decoding=whole.decoding,
            )
            row[name] = score_row(scores)
        rows.append(row)
    by_size = {}
    for k in sizes:
        of_k = [r for r in rows if len(r["members"]) == k]
        by_size[str(k)] = {
            "subsets": len(of_k),
            **{name: {f: _mean_sd([r[name][f] for r in of_k]) for f in ("score", *F1S)} for name in SETS},
        }
    write_json(
        args.out,
        {
            "checkpoints": names,
            "dev": str(args.dev),
            "test": str(args.test),
            "decoding": whole.decoding.to_dict(),  # the lead's, with the overrides
            "subsets": rows,
            "by_size": by_size,
            "seconds": round(time.perf_counter() - t0, 1),
        },
    )
    print(f"{'members':<10}{'dev score':>11}{'test E':>9}{'test R':>9}{'test R=':>9}  (mean over subsets)")
    for k, s in by_size.items():
        t = s["test"]
        print(
            f"{k:<10}{s['dev']['score']['mean']:>11.4f}"
            + "".join(f"{100 * t[f]['mean']:>9.1f}" for f in F1S)
            + f"  ({s['subsets']} subsets)"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
