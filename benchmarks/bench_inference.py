"""Inference speed of Predictor against the bare encoder, on the same SciERC test batches.

    .venv/bin/python benchmarks/bench_inference.py [--checkpoint RUN/best [RUN2/best ...]] [--encoder minilm]
        [--limit N]

Predictor.predict_sentences does everything (tokenising, length-sorted batching, encoder, tagger, span and
pair encoders, heads, decoding into Sentences). The bare encoder runs its forward pass alone on the very
same padded batches (tokenising and collation done beforehand, so it is favoured). Target: the Predictor
keeps at least 0.75 of the bare encoder's sentences/s. A trained checkpoint gives realistic candidate counts;
without one an untrained model is used and its predictions (so its pair counts) are arbitrary.
Several checkpoints are read as one ensemble (enpar.ensemble); its baseline is then as many bare encoder
forward passes per batch as it has members, so the 0.75 target keeps its meaning per member.
The two alternate --rounds times (the CPU is shared) and the fastest round of each counts.
Writes benchmarks/results/inference.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _common import parse_and_setup, peak_memory_mb, report_header, scierc_parser, sync, write_report


def main() -> int:
    ap = scierc_parser(__doc__)
    ap.add_argument(
        "--checkpoint",
        type=Path,
        nargs="+",
        default=None,
        help="fine-tuned checkpoint, or several for an ensemble (default: untrained)",
    )
    ap.add_argument("--encoder", default="minilm", help="encoder of the untrained model")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--limit", type=int, default=0, help="use the first N sentences (0: all)")
    ap.add_argument("--rounds", type=int, default=2)
    args = parse_and_setup(ap, "inference.json")
    if args is None:
        return 0
    import torch

    from enpar.config import ModelConfig
    from enpar.data import build_labels, collate, length_sorted_batches
    from enpar.encoding import load_tokenizer
    from enpar.ensemble import members_of
    from enpar.model import JointModel
    from enpar.predict import Predictor
    from enpar.readers import read_dataset
    from enpar.runtime import autocast, pick_device

    device = pick_device(args.device)
    sentences = read_dataset(args.data)
    if args.limit:
        sentences = sentences[: args.limit]
    if args.checkpoint:
        predictor = Predictor.from_checkpoints(args.checkpoint, device=device, batch_size=args.batch_size)
    else:
        torch.manual_seed(0)
        model = JointModel.build(ModelConfig(encoder=args.encoder), build_labels(sentences))
        predictor = Predictor(model, load_tokenizer(args.encoder), device=device, batch_size=args.batch_size)
    bares = [m.encoder.sentence.model for m in members_of(predictor.model)]
    examples = predictor.examples(sentences)
    batches = [
        collate([examples[i] for i in idx], predictor.specials, with_gold=False).to(device)
        for idx in length_sorted_batches([len(ex) for ex in examples], args.batch_size)
    ]

    def run_bare() -> None:
        with torch.inference_mode(), autocast(device, predictor.bf16):
            for b in batches:
                for bare in bares:
                    bare(input_ids=b.input_ids, attention_mask=b.attention_mask)

    def run_joint() -> list:
        return predictor.predict_sentences(sentences)

    run_bare()  # warm-up
    preds = run_joint()
    t_bare, t_joint = float("inf"), float("inf")
    for _ in range(args.rounds):
        for fn, which in ((run_bare, "bare"), (run_joint, "joint")):
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            dt = time.perf_counter() - t0
            if which == "bare":
                t_bare = min(t_bare, dt)
            else:
                t_joint = min(t_joint, dt)
    n = len(sentences)
    rate_bare, rate_joint = n / t_bare, n / t_joint
    peak = peak_memory_mb(device)
    n_ent = sum(len(p.entities) for p in preds)
    n_rel = sum(len(p.relations) for p in preds)
    report = {
        **report_header("inference", device),
        "checkpoints": [str(c) for c in args.checkpoint] if args.checkpoint else None,
        "members": len(bares),
        "sentences": n,
        "batch_size": args.batch_size,
        "seconds": {"bare_encoder": round(t_bare, 3), "predictor": round(t_joint, 3)},
        "sentences_per_second": {"bare_encoder": round(rate_bare, 1), "predictor": round(rate_joint, 1)},
        "ratio": round(rate_joint / rate_bare, 3),
        "target_ratio_min": 0.75,
        "meets_target": rate_joint / rate_bare >= 0.75,
        "predicted": {"entities": n_ent, "relations": n_rel},
        "peak_memory_mb": round(peak, 1),
        "memory_kind": "cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS",
    }
    print(f"{'':<22}{'seconds':>10}{'sent/s':>10}")
    bare_name = "bare encoder forward" if len(bares) == 1 else f"{len(bares)} bare encoders"
    print(f"{bare_name:<22}{t_bare:>10.2f}{rate_bare:>10.1f}")
    print(f"{'Predictor (all)':<22}{t_joint:>10.2f}{rate_joint:>10.1f}")
    print(
        f"ratio {rate_joint / rate_bare:.2f} "
        f"(target >= 0.75: {'met' if report['meets_target'] else 'NOT met'}); "
        f"{n} sentences, {n_ent} entities, {n_rel} relations predicted; peak memory {peak:.0f} MB"
    )
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
