"""The ENPAR pre-training loop: one optimizer over the weighted sum of the four objectives (spec section 3).

Run folder:
    config.json           model / pre-training / data configs, corpus, typing labels, world size
    log.jsonl             one line per optimizer step: lr, weighted loss, each objective's loss and accuracy
    loss_curves.png       the paper's Figure 6, redrawn from log.jsonl at every checkpoint
    step-000250/ ...      checkpoint folders of kind "pretrain" (what `enpar finetune --init` loads)
    state/                the trainer state of the last checkpoint (what --resume continues from)
    summary.json          written at the end

A step = `accumulate` micro-steps in total over all processes; each micro-step runs MEP, MET, PP and ACD,
each on its own `micro_batch` instances (the code's 9, 9, 9, 5), and back-propagates
sum_task weight_task * loss_task / accumulate. So the per-step objective is the weighted sum of per-task
means, whatever the number of processes.

Data parallelism (torchrun) without DDP wrappers: the corpus is dealt to `streams` streams (default: one per
process); process r owns streams s with s % world == r and reads only their lines. After the micro-steps
the gradients are summed over processes (one all-reduce per step), so every process applies the same
update. Dropout is re-seeded from (seed, stream, micro-batch number), so a 1-process run with the same
streams and `accumulate` sees exactly the same micro-batches and masks as a multi-process run (tested).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from enpar.checkpoint import save_checkpoint
from enpar.config import JsonConfig, ModelConfig
from enpar.encoding import load_tokenizer, max_pieces
from enpar.model import EnparEncoder
from enpar.objectives import ACD_FORMS, PretrainModel
from enpar.pretrain_data import TASKS, PretrainData, PretrainDataConfig
from enpar.runtime import (
    autocast,
    barrier,
    init_distributed,
    is_main,
    pick_device,
    rank,
    world_size,
)
from enpar.training import (
    build_optimizer,
    clip_gradients,
    linear_schedule,
    load_trainer_state,
    read_run_config,
    refuse_existing_run,
    save_trainer_state,
    write_json,
)

RUN_FORMAT = "enpar-pretrain-run"
LOG = "log.jsonl"
PLOT = "loss_curves.png"
STATE = "state"


@dataclass(frozen=True)
class PretrainConfig(JsonConfig):
    """Loop and optimisation settings; defaults are the paper's (spec 3, 7.8-7.10) unless noted."""

    objectives: tuple[str, ...] = TASKS  # a subset gives the Table 2 ablations ("- ACD" = mep,met,pp)
    steps: int = 10_000  # optimizer steps (the paper's results: the 25% checkpoint of 20k)
    accumulate: int = 16  # micro-steps per optimizer step, over all processes
    micro_batch: tuple[int, ...] = (9, 9, 9, 5)  # MEP, MET, PP, ACD instances per micro-step (the code)
    # the paper "simply sums" the losses; the code's effective weights are 9:9:9:5 (spec 7.8)
    loss_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)  # MEP, MET, PP, ACD
    lr: float = 5e-5
    warmup: float = 0.1  # fraction of `steps`, then linear decay to 0 (spec 7.9)
    weight_decay: float = 0.01
    no_decay_bias_norm: bool = True  # spec 7.10 (the code decays everything)
    adam_eps: float = 1e-6
    adam_betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    acd_loss: str = "paper"  # "paper": [1 - s+ + s-]_+ ; "code": relu(5 - |s- - s+|)
    acd_margin: float | None = None  # None: 1 (paper) / 5 (code)
    save_every: int = 0  # steps between checkpoints; 0 = at 25%, 50%, 75% and 100%
    streams: int = 0  # corpus streams; 0 = one per process
    seed: int = 0
    bf16: bool = True  # autocast on GPU; ignored on CPU
    # build_optimizer's knobs: pre-training uses one learning rate for every layer
    layer_decay: float = 1.0
    embeddings_lr: str = "top"

    def __post_init__(self) -> None:
        bad = [t for t in self.objectives if t not in TASKS]
        if bad or not self.objectives:
            raise ValueError(f"objectives must be a non-empty subset of {TASKS}, got {self.objectives}")
        if len(self.micro_batch) != 4 or len(self.loss_weights) != 4:
            raise ValueError("micro_batch and loss_weights take 4 values: MEP, MET, PP, ACD")
        if self.acd_loss not in ACD_FORMS:
            raise ValueError(f"acd_loss must be one of {ACD_FORMS}")
        if self.steps < 1 or self.accumulate < 1:
            raise ValueError("steps and accumulate must be positive")

    @property
    def tasks(self) -> tuple[str, ...]:
        """Selected objectives in the code's order (MEP, MET, PP, ACD)."""
        return tuple(t for t in TASKS if t in self.objectives)

    def micro(self, task: str) -> int:
        return self.micro_batch[TASKS.index(task)]

    def weight(self, task: str) -> float:
        return self.loss_weights[TASKS.index(task)]

    def checkpoint_steps(self) -> list[int]:
        if self.save_every > 0:
            return sorted({*range(self.save_every, self.steps + 1, self.save_every), self.steps})
        return sorted({max(1, round(self.steps * q / 4)) for q in (1, 2, 3, 4)})


def pretraining_model_config(**overrides: Any) -> ModelConfig:
    """The network of spec 2 as pre-trained: no extra dropout on the encoder output (the code), 0.1
    elsewhere; fine-tuning sets its own dropouts when it loads the checkpoint."""
    return ModelConfig(**{"encoder_dropout": 0.0, **overrides})


def _micro_seed(seed: int, stream: int, count: int, task: str) -> int:
    return (seed * 1_000_003 + stream * 10_007 + count) * 8 + TASKS.index(task)


def _all_reduce_gradients(params: list[torch.nn.Parameter]) -> None:
    """Sum gradients over processes in one flat buffer (a missing gradient counts as zero)."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    for p, g in zip(params, _unflatten_dense_tensors(flat, grads), strict=True):
        p.grad = g


def _broadcast_parameters(model: torch.nn.Module) -> None:
    import torch.distributed as dist

    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(t.data, src=0)


def _truncate_log(path: Path, step: int) -> None:
    if not path.is_file():
        return
    keep = [
        ln
        for ln in path.read_text(encoding="utf-8").splitlines()
        if ln.strip() and json.loads(ln)["step"] <= step
    ]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")


def pretrain(
    corpus: str | Path,
    out: str | Path,
    *,
    model_config: ModelConfig | None = None,
    config: PretrainConfig | None = None,
    data_config: PretrainDataConfig | None = None,
    resume: bool = False,
    device: torch.device | str | None = None,
    show_progress: bool = True,
    stop_at: int | None = None,
) -> dict[str, Any]:
    """Pre-train; returns the summary (also out/summary.json). Under torchrun every process calls this.

    stop_at: stop after this step (checkpoint and trainer state written), e.g. to time-box a CPU run;
    `resume=True` continues it on the same schedule.
    """
    out = Path(out)
    distributed = init_distributed()
    world, me = world_size(), rank()
    state_dir = out / STATE
    if resume:
        saved = read_run_config(out, state_dir, RUN_FORMAT, "pre-training")
        model_config = ModelConfig.from_dict(saved["model"])
        config = PretrainConfig.from_dict(saved["pretrain"])
        data_config = PretrainDataConfig.from_dict(saved["data"])
        corpus = saved["corpus"]
        labels: tuple[str, ...] | None = tuple(saved["labels"])
    else:
        refuse_existing_run(out, state_dir)
        model_config = model_config or pretraining_model_config()
        config = config or PretrainConfig()
        data_config = data_config or PretrainDataConfig(seed=config.seed)
        labels = None
    n_streams = config.streams or world
    if n_streams % world or config.accumulate % n_streams:
        raise ValueError(
            f"streams ({n_streams}) must be a multiple of the process count ({world}) and divide "
            f"accumulate ({config.accumulate})"
        )
    my_streams = [s for s in range(n_streams) if s % world == me]
    per_rank = config.accumulate // world
    per_stream = config.accumulate // n_streams  # micro-batches each stream gives per step
    tasks = config.tasks
    device = torch.device(device) if device is not None else pick_device()

    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(model_config.encoder)
    encoder = EnparEncoder.build(model_config)
    limit = max_pieces(tokenizer, encoder.sentence.model.config, model_config.max_pieces)
    data = PretrainData(
        corpus,
        tokenizer,
        data_config,
        max_pieces=limit,
        streams=my_streams,
        n_streams=n_streams,
        tasks=tasks,
        labels=labels,
    )
    labels = data.labels
    model = PretrainModel(encoder, tasks, len(labels), acd_form=config.acd_loss, acd_margin=config.acd_margin)
    model.to(device)
    if distributed:
        _broadcast_parameters(model)
    optimizer = build_optimizer(model, config)
    warmup = max(1, round(config.warmup * config.steps))
    scheduler = linear_schedule(optimizer, config.steps, warmup)
    step = 0
    if resume:
        meta = load_trainer_state(state_dir, model=model, optimizer=optimizer, scheduler=scheduler)
        step = int(meta["step"])
        for s in my_streams:  # replay the data streams to where the checkpoint left them
            for task in tasks:
                data.skip(s, task, step * per_stream * config.micro(task))
        if is_main():
            _truncate_log(out / LOG, step)
    elif is_main():
        out.mkdir(parents=True, exist_ok=True)
        write_json(
            out / "config.json",
            {
                "format": RUN_FORMAT,
                "corpus": str(Path(corpus).resolve()),
                "model": model_config.to_dict(),
                "pretrain": config.to_dict(),
                "data": data_config.to_dict(),
                "labels": list(labels),
                "world_size": world,
                "streams": n_streams,
                "device": str(device),
                "command": sys.argv,
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
    barrier()
    counts = dict.fromkeys(my_streams, step * per_stream)  # micro-batches drawn per stream (dropout seeds)
    params = [p for p in model.parameters() if p.requires_grad]
    lines_per_step = config.accumulate * sum(config.micro(t) for t in tasks)
    if is_main():
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"pre-training {'/'.join(t.upper() for t in tasks)} on {data.paths[0].name}"
            f"{f' (+{len(data.paths) - 1} files)' if len(data.paths) > 1 else ''}: {config.steps} steps x "
            f"{lines_per_step} instances ({config.accumulate} micro-steps, {world} process(es), "
            f"{n_streams} stream(s)); {n_params / 1e6:.1f}M parameters; warmup {warmup}; device {device}",
            file=sys.stderr,
        )
    bar = None
    if show_progress and is_main():
        from tqdm import tqdm

        bar = tqdm(total=config.steps, initial=step, desc="pretrain", unit="step", dynamic_ncols=True)
    save_at = set(config.checkpoint_steps())
    checkpoints: list[str] = []
    ema: dict[str, float] = {}
    started = time.perf_counter()
    steps_run = 0
    model.train()
    last = config.steps if stop_at is None else min(config.steps, stop_at)
    while step < last:
        t0 = time.perf_counter()
        sums = torch.zeros(3 * len(tasks), dtype=torch.float64)  # per task: loss, accuracy, instances
        lr = scheduler.get_last_lr()[0]
        for a in range(per_rank):
            stream = my_streams[(step * per_rank + a) % len(my_streams)]
            count = counts[stream]
            counts[stream] += 1
            for k, task in enumerate(tasks):
                tb = data.micro_batch(stream, task, config.micro(task)).to(device)
                torch.manual_seed(_micro_seed(config.seed, stream, count, task))  # dropout masks
                with autocast(device, config.bf16):
                    res = model(tb)
                (res.loss * (config.weight(task) / config.accumulate)).backward()
                sums[3 * k] += float(res.loss.detach())
                sums[3 * k + 1] += res.accuracy
                sums[3 * k + 2] += tb.size
        if distributed:
            import torch.distributed as dist

            _all_reduce_gradients(params)
            reduced = sums.to(device)  # NCCL reduces GPU tensors only
            dist.all_reduce(reduced)
            sums = reduced.cpu()
        grad_norm = clip_gradients(params, config.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        steps_run += 1
        losses = {t: float(sums[3 * k] / config.accumulate) for k, t in enumerate(tasks)}
        record = {
            "step": step,
            "lr": lr,
            "loss": sum(config.weight(t) * v for t, v in losses.items()),
            "losses": losses,
            "accuracy": {t: float(sums[3 * k + 1] / config.accumulate) for k, t in enumerate(tasks)},
            "instances": {t: int(sums[3 * k + 2]) for k, t in enumerate(tasks)},
            "grad_norm": grad_norm,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if not all(math.isfinite(v) for v in losses.values()):
            raise FloatingPointError(f"step {step}: non-finite loss {losses}")
        if is_main():
            with (out / LOG).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            for t, v in losses.items():
                ema[t] = v if t not in ema else 0.9 * ema[t] + 0.1 * v
            if bar is not None:
                bar.update(1)
                bar.set_postfix({t: f"{v:.3f}" for t, v in ema.items()}, refresh=False)
        if step in save_at or step == last:
            if is_main():
                ckpt = out / f"step-{step:06d}"
                save_checkpoint(
                    ckpt,
                    model,
                    kind="pretrain",
                    model_config=model_config,
                    tokenizer=tokenizer,
                    configs={"pretrain": config.to_dict(), "data": data_config.to_dict()},
                    extra={
                        "step": step,
                        "of_steps": config.steps,
                        "fraction": round(step / config.steps, 4),
                        "objectives": list(tasks),
                        "typing_labels": list(labels),
                        "corpus": str(corpus),
                        "losses": losses,
                    },
                )
                save_trainer_state(
                    state_dir, model=model, optimizer=optimizer, scheduler=scheduler, meta={"step": step}
                )
                checkpoints.append(str(ckpt))
                _plot(out)
            barrier()
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - started
    summary: dict[str, Any] = {
        "steps": step,
        "steps_this_run": steps_run,
        "seconds_per_step": round(elapsed / steps_run, 3) if steps_run else None,
        "instances_per_step": lines_per_step,
        "world_size": world,
        "checkpoints": sorted({*checkpoints, *(str(p) for p in sorted(out.glob("step-*")) if p.is_dir())}),
        "final": str(out / f"step-{step:06d}"),
    }
    summary["weights_sha256"] = _fingerprints(model, distributed)  # one per process: equal iff in sync
    if is_main():
        from enpar.lossplot import read_log

        rows = read_log(out / LOG)
        if rows:
            window = max(1, len(rows) // 10)
            summary["loss_first"] = {t: _mean([r["losses"][t] for r in rows[:window]]) for t in tasks}
            summary["loss_last"] = {t: _mean([r["losses"][t] for r in rows[-window:]]) for t in tasks}
        write_json(out / "summary.json", summary)
    barrier()
    return summary


def _fingerprints(model: torch.nn.Module, distributed: bool) -> list[str]:
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


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 5) if values else float("nan")


def _plot(out: Path) -> None:
    """Redraw the loss curves; a plotting problem must never stop training."""
    try:
        from enpar.lossplot import plot_losses

        plot_losses(out / LOG, out / PLOT)
    except Exception as exc:  # noqa: BLE001 - e.g. Pillow missing
        print(f"warning: could not draw {out / PLOT}: {exc}", file=sys.stderr)
