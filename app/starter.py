"""The starter pair: a small BERT baseline and an ENPAR checkpoint built in the background, so that a
first start with no checkpoint can reach a real comparison from one button (a run of kind "starter").

Steps (each a CLI command, run in sequence by `python -m app.starter`, which keeps progress.json current):
fine-tune the baseline for a few epochs with the adopted preset; for ENPAR, a pre-trained ENPAR
checkpoint kept under checkpoints/ is used as --init when there is one, else a short pre-training runs
first (annotate a slice of WikiText with spaCy, pre-train a few steps); then ENPAR is fine-tuned the same
way. The checkpoints land in RUNS/starter/{bert,enpar}/best, where the app looks for checkpoints.

The time estimate comes from timings measured on this machine, quiet and loaded (QUIET, LOADED).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app import runs

PROJECT_ROOT = runs.PROJECT_ROOT
PRESET = "scierc-cpu"  # enpar.presets: the adopted CPU setting (its epochs are overridden below)
EPOCHS = 2  # a starter, not a result: about a tenth of the preset's budget
WIKI_LINES = 400  # lines of wiki.valid.raw annotated for the short pre-training
PT_STEPS = 30  # pre-training steps of 32 instances (scripts/demo.sh QUICK=1 takes the same)
# Seconds measured on this machine (2 cores, MiniLM, batch 8), quiet and loaded.
# Quiet: results/scierc-baseline-bs8-30ep/seed5216/log.txt, 74-80 s per epoch of 1861 sentences (dev
# evaluation included); pre-training 10.3 s per step of 128 instances (results/scierc-pretrain-400/
# summary.json), about 2.6 s per step of 32. Loaded: a 1-epoch fine-tuning of 1046 sentences took 1324 s
# (2026-12-08, load average 4-6: a 30-epoch training and tests on the same 2 cores); pre-training is
# assumed to slow down by the same factor. Annotation: 300 WikiText lines in 5.4 s, start-up included.
QUIET = {"finetune_sentence_epoch": 0.041, "pretrain_step": 2.6, "annotate_line": 0.018, "startup": 10.0}
LOADED = {"finetune_sentence_epoch": 1.27, "pretrain_step": 80.0, "annotate_line": 0.018, "startup": 30.0}
STEP_SECONDS = QUIET


@dataclass(frozen=True)
class Step:
    title: str
    argv: list[str]


def find_pretrained(root: Path | None = None) -> Path | None:
    """The newest pre-trained ENPAR checkpoint (kind "pretrain") under checkpoints/, if any."""
    from app.loading import find_checkpoints  # here: `python -m app.starter` runs without Streamlit's pages

    found = [c for c in find_checkpoints(root or PROJECT_ROOT / "checkpoints") if c.kind == "pretrain"]
    return Path(max(found, key=lambda c: c.stamp).path) if found else None


def plan(data: Path, out: Path, *, init: Path | None, epochs: int = EPOCHS) -> list[Step]:
    """The commands that build the pair from the SciERC folder `data` into `out`."""
    from enpar.presets import get_preset

    get_preset(PRESET)  # fail here, not after the first step, if the preset is gone
    enpar = [sys.executable, "-m", "enpar.cli"]
    finetune = [*enpar, "finetune", "--train", str(data / "train.json"), "--dev", str(data / "dev.json")]
    finetune += ["--preset", PRESET, "--epochs", str(epochs), "--no-progress"]
    steps = [Step("fine-tune the BERT baseline", [*finetune, "--out", str(out / "bert")])]
    if init is None:
        wiki = data.parent / "wikitext2_raw" / "wiki.valid.raw"
        corpus = out / "corpus" / "wiki.jsonl"
        slice_cmd = [sys.executable, "-m", "app.starter", "slice", str(wiki), str(out / "wiki.raw")]
        steps += [
            Step(f"take {WIKI_LINES} lines of WikiText", [*slice_cmd, str(WIKI_LINES)]),
            Step("annotate them with spaCy", [*enpar, "annotate", str(out / "wiki.raw"), str(corpus),
                                              "--input-format", "wikitext", "--no-progress"]),
            Step(f"pre-train ENPAR {PT_STEPS} steps", [*enpar, "pretrain", str(corpus.parent), "--out",
                 str(out / "pretrain"), "--steps", str(PT_STEPS), "--lr", "2e-4", "--no-progress"]),
        ]  # fmt: skip
        init = out / "pretrain" / f"step-{PT_STEPS:06d}"
    steps.append(Step("fine-tune ENPAR", [*finetune, "--init", str(init), "--out", str(out / "enpar")]))
    return steps


def estimate_seconds(
    n_train: int, *, epochs: int = EPOCHS, pretrained: bool, costs: dict[str, float] | None = None
) -> float:
    """Wall seconds the pair takes here: two fine-tunings, plus the short pre-training without a kept
    pre-trained checkpoint; `costs` per step (default: the quiet machine, STEP_SECONDS)."""
    s = costs or STEP_SECONDS
    total = 2 * (s["startup"] + n_train * epochs * s["finetune_sentence_epoch"])
    if not pretrained:
        total += 2 * s["startup"] + WIKI_LINES * s["annotate_line"] + PT_STEPS * s["pretrain_step"]
    return total


def estimate_range(n_train: int, *, epochs: int = EPOCHS, pretrained: bool) -> tuple[float, float]:
    """(quiet, loaded) wall seconds: both were measured here, and the machine is often shared."""
    return (
        estimate_seconds(n_train, epochs=epochs, pretrained=pretrained, costs=QUIET),
        estimate_seconds(n_train, epochs=epochs, pretrained=pretrained, costs=LOADED),
    )


def start_starter_pair(
    store: runs.RunStore, *, data: str | Path, runs_dir: str | Path, force: bool = False
) -> runs.Run:
    """Start (or, if one is active, return) the background run that builds the starter pair."""
    out = Path(runs_dir) / "starter"
    init = find_pretrained()
    argv = [sys.executable, "-m", "app.starter", "build", str(data), str(out), "{out}"]
    if init is not None:
        argv += ["--init", str(init)]
    return runs.start_run(
        store,
        checkpoint=str(out),
        checkpoint_name="starter pair",
        dataset=str(Path(data) / "train.json"),
        split="scierc/train",
        command=argv,
        kind="starter",
        force=force,
    )


def _progress(folder: Path, done: int, total: int, stage: str) -> None:
    tmp = folder / "progress.json.tmp"
    tmp.write_text(json.dumps({"done": done, "total": total, "stage": stage}), encoding="utf-8")
    tmp.replace(folder / "progress.json")


def build(data: Path, out: Path, progress_dir: Path, *, init: Path | None) -> int:
    """Run the plan's steps in order; the first failing step stops the build with its exit status."""
    steps = plan(data, out, init=init)
    out.mkdir(parents=True, exist_ok=True)
    for i, step in enumerate(steps):
        _progress(progress_dir, i, len(steps), f"{step.title} (step {i + 1} of {len(steps)})")
        print(f"$ {' '.join(step.argv)}", flush=True)
        t0 = time.time()
        rc = subprocess.call(step.argv, cwd=PROJECT_ROOT)
        print(f"{step.title}: {time.time() - t0:.0f} s, exit {rc}", flush=True)
        if rc:
            print(f"error: step {i + 1} ({step.title}) failed with exit status {rc}", flush=True)
            return rc
    _progress(progress_dir, len(steps), len(steps), "done")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.starter", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the pair")
    b.add_argument("data", type=Path, help="the SciERC folder (train.json, dev.json)")
    b.add_argument("out", type=Path, help="where the pair goes (RUNS/starter)")
    b.add_argument("progress", type=Path, help="the run's folder (progress.json)")
    b.add_argument("--init", type=Path, default=None, help="a pre-trained ENPAR checkpoint")
    s = sub.add_parser("slice", help="the first N lines of a text file")
    s.add_argument("src", type=Path)
    s.add_argument("dst", type=Path)
    s.add_argument("n", type=int)
    args = parser.parse_args(argv)
    if args.cmd == "slice":
        with args.src.open(encoding="utf-8") as fh:
            lines = [line for _, line in zip(range(args.n), fh, strict=False)]
        args.dst.parent.mkdir(parents=True, exist_ok=True)
        args.dst.write_text("".join(lines), encoding="utf-8")
        return 0
    return build(args.data, args.out, args.progress, init=args.init)


if __name__ == "__main__":
    sys.exit(main())
