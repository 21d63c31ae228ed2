"""Training-step cost of the joint model against the bare encoder, on the same SciERC test batches.

    .venv/bin/python benchmarks/bench_train.py [--encoder minilm] [--batch-size 32] [--batches 8]

Per batch: the bare encoder's forward+backward (sum of squared states as a stand-in loss) against one joint
fine-tuning forward+backward (tagger + entity CNN + context CNNs + pair FF + heads, candidates from gold as
in epochs 1-6 of scheduled sampling), then both with AdamW steps. Target: joint / bare fwd+bwd <= 1.5.
Bare and joint alternate batch by batch and each batch counts its fastest of --rounds repeats, because this
machine's cores are shared. Peak memory: CUDA peak allocation on GPU; on CPU the process peak RSS after
each phase (bare runs first, so the joint figure is max(bare, joint)). Writes benchmarks/results/train.json.
"""

from __future__ import annotations

import statistics
import sys
import time

from _common import parse_and_setup, peak_memory_mb, report_header, scierc_parser, sync, write_report


def main() -> int:
    ap = scierc_parser(__doc__)
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=8, help="timed batches (after 2 warm-up batches)")
    ap.add_argument("--rounds", type=int, default=3, help="repeats per batch; the fastest counts")
    args = parse_and_setup(ap, "train.json")
    if args is None:
        return 0
    import torch

    from enpar.config import FinetuneConfig, ModelConfig
    from enpar.data import Specials, bucketed_batches, build_labels, collate, make_examples
    from enpar.encoding import load_tokenizer, max_pieces
    from enpar.model import JointModel
    from enpar.readers import read_dataset
    from enpar.runtime import pick_device
    from enpar.training import build_optimizer

    device = pick_device(args.device)
    sentences = read_dataset(args.data)
    labels = build_labels(sentences)
    torch.manual_seed(0)
    model = JointModel.build(ModelConfig(encoder=args.encoder), labels).to(device).train()
    tokenizer = load_tokenizer(args.encoder)
    specials = Specials.of(tokenizer, max_pieces(tokenizer, model.encoder.sentence.model.config))
    examples = make_examples(sentences, tokenizer, labels)
    import random

    # the batches fine-tuning draws (similar lengths, enpar.data.bucketed_batches)
    lengths = [len(ex) for ex in examples]
    idx_batches = bucketed_batches(lengths, args.batch_size, random.Random(0))[: args.batches + 2]
    batches = [collate([examples[i] for i in idx], specials).to(device) for idx in idx_batches]
    bare = model.encoder.sentence.model
    optimizer = build_optimizer(model, FinetuneConfig())

    def bare_step(batch, step: bool) -> None:
        states = bare(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        states.float().pow(2).mean().backward()
        if step:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def joint_step(batch, step: bool) -> None:
        n = len(batch.lengths)
        out = model(batch, [True] * n, [True] * n)
        out.loss.backward()
        if step:
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed_pair(step: bool, rounds: int) -> tuple[list[float], list[float]]:
        """Bare and joint alternate on each batch (so both see the same machine load, which is shared
        here); per batch the fastest of `rounds` repeats is kept."""
        for b in batches[:2]:  # warm-up
            bare_step(b, step)
            joint_step(b, step)
        best_bare = [float("inf")] * (len(batches) - 2)
        best_joint = [float("inf")] * (len(batches) - 2)
        for _ in range(rounds):
            for i, b in enumerate(batches[2:]):
                for fn, best in ((bare_step, best_bare), (joint_step, best_joint)):
                    sync(device)
                    t0 = time.perf_counter()
                    fn(b, step)
                    sync(device)
                    best[i] = min(best[i], time.perf_counter() - t0)
        return best_bare, best_joint

    results = {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for b in batches[:2]:
        bare_step(b, False)
    mem_bare = peak_memory_mb(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for b in batches[:2]:
        joint_step(b, False)
    mem_joint = peak_memory_mb(device)
    results["bare_fwd_bwd"], results["joint_fwd_bwd"] = timed_pair(False, args.rounds)
    results["bare_step"], results["joint_step"] = timed_pair(True, args.rounds)

    total = {k: sum(v) for k, v in results.items()}
    ratio = total["joint_fwd_bwd"] / total["bare_fwd_bwd"]
    ratio_step = total["joint_step"] / total["bare_step"]
    pieces = [int(b.attention_mask.sum()) / b.attention_mask.shape[0] for b in batches[2:]]
    report = {
        **report_header("train_step", device),
        "encoder": args.encoder,
        "batch_size": args.batch_size,
        "batches": len(batches) - 2,
        "mean_pieces_per_chunk": round(statistics.mean(pieces), 1),
        "mean_seconds": {k: round(statistics.mean(v), 4) for k, v in results.items()},
        "ratio_fwd_bwd": round(ratio, 3),
        "ratio_with_optimizer": round(ratio_step, 3),
        "target_ratio_max": 1.5,
        "meets_target": ratio <= 1.5,
        "peak_memory_mb": {"bare": round(mem_bare, 1), "joint": round(mem_joint, 1)},
        "memory_kind": "cuda max_memory_allocated"
        if device.type == "cuda"
        else "process peak RSS (cumulative)",
    }
    print(f"{'measure':<28}{'bare encoder':>14}{'joint model':>14}{'ratio':>8}")
    for label, b, j in (
        ("fwd+bwd (s/batch)", "bare_fwd_bwd", "joint_fwd_bwd"),
        ("fwd+bwd+AdamW (s/batch)", "bare_step", "joint_step"),
    ):
        med = report["mean_seconds"]
        print(f"{label:<28}{med[b]:>14.4f}{med[j]:>14.4f}{total[j] / total[b]:>8.2f}")
    print(f"{'peak memory (MB)':<28}{mem_bare:>14.1f}{mem_joint:>14.1f}")
    print(f"target joint/bare fwd+bwd <= 1.5: {'met' if report['meets_target'] else 'NOT met'} ({ratio:.2f})")
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
