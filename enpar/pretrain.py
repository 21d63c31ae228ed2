"""The ENPAR pre-training loop: one optimizer over the weighted sum of the objectives (spec section 3),
or the MLM control arm (`objectives=("mlm",)`) on the same sentences, steps, batch and schedule.

Run folder:
    config.json           model / pre-training / data configs, corpus, typing labels, world size
    log.jsonl             one line per optimizer step: lr, weighted loss, each objective's loss, accuracy,
                          trivial baseline (enpar.pretrain_log), distinct sentences drawn and passes
    loss_curves.png       the paper's Figure 6, redrawn from log.jsonl at every checkpoint
    step-000250/ ...      checkpoint folders of kind "pretrain" (what `enpar finetune --init` loads)
    state/                the trainer state of the last checkpoint (what --resume continues from)
    summary.json          written at the end: timing, checkpoints, per-objective coverage and accuracy

A step = `accumulate` micro-steps in total over all processes; each micro-step runs MEP, MET, PP and ACD,
each on its own `micro_batch` instances (the code's 9, 9, 9, 5), and back-propagates
sum_task weight_task * loss_task / accumulate. So the per-step objective is the weighted sum of per-task
means, whatever the number of processes. The MLM arm's micro-step holds sum(micro_batch) sentences (as many
as ENPAR draws). A micro-batch over `chunk_tokens` padded pieces runs as length-sorted chunks whose losses
are weighted by their share of the targets: the same loss and gradient, less padding.

Data parallelism (torchrun) without DDP wrappers: the corpus is dealt to `streams` streams (default: one per
process); process r owns streams s with s % world == r and reads only their lines. After the micro-steps
the gradients are summed over processes (one all-reduce per step), so every process applies the same
update. Dropout is re-seeded from (seed, stream, micro-batch number), so a 1-process run with the same
streams and `accumulate` sees exactly the same micro-batches and masks as a multi-process run (tested).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from enpar.checkpoint import save_checkpoint
from enpar.config import JsonConfig, ModelConfig
from enpar.encoders import EnparEncoder
from enpar.encoding import load_tokenizer, max_pieces, resolve_encoder
from enpar.objectives import ACD_FORMS, PretrainModel, load_mlm_head
from enpar.pretrain_data import MLM, OBJECTIVES, TASKS, PretrainData, PretrainDataConfig
from enpar.pretrain_log import LOG, Baselines, append_row, coverage_summary, plot
from enpar.pretrain_log import mean as _mean
from enpar.pretrain_sync import all_reduce_gradients, broadcast_parameters, fingerprints, micro_seed
from enpar.runtime import autocast, barrier, init_distributed, is_main, pick_device, rank, world_size
from enpar.storage import truncate_jsonl
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
STATE = "state"


@dataclass(frozen=True)
class PretrainConfig(JsonConfig):
    """Loop and optimisation settings; defaults are the paper's (spec 3, 7.8-7.10) unless noted."""

    # a subset gives the Table 2 ablations ("- ACD" = mep,met,pp); ("mlm",) the domain-adapted BERT arm
    objectives: tuple[str, ...] = TASKS
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
    mlm_batch: int = 0  # MLM sentences per micro-step; 0 = sum(micro_batch), as many as ENPAR draws
    chunk_tokens: int = 4096  # padded pieces above which a micro-batch runs in chunks; 0 = never

    def __post_init__(self) -> None:
        bad = [t for t in self.objectives if t not in OBJECTIVES]
        if bad or not self.objectives or (MLM in self.objectives and len(self.objectives) > 1):
            raise ValueError(
                f"objectives must be a non-empty subset of {TASKS}, or ('mlm',) alone, got {self.objectives}"
            )
        if len(self.micro_batch) != 4 or len(self.loss_weights) != 4:
            raise ValueError("micro_batch and loss_weights take 4 values: MEP, MET, PP, ACD")
        if self.acd_loss not in ACD_FORMS:
            raise ValueError(f"acd_loss must be one of {ACD_FORMS}")
        if self.steps < 1 or self.accumulate < 1:
            raise ValueError("steps and accumulate must be positive")

    @property
    def tasks(self) -> tuple[str, ...]:
        """Selected objectives in the code's order (MEP, MET, PP, ACD), or ("mlm",)."""
        return tuple(t for t in OBJECTIVES if t in self.objectives)

    def micro(self, task: str) -> int:
        if task == MLM:
            return self.mlm_batch or sum(self.micro_batch)
        return self.micro_batch[TASKS.index(task)]

    def weight(self, task: str) -> float:
        return 1.0 if task == MLM else self.loss_weights[TASKS.index(task)]

    def checkpoint_steps(self) -> list[int]:
        if self.save_every > 0:
            return sorted({*range(self.save_every, self.steps + 1, self.save_every), self.steps})
        return sorted({max(1, round(self.steps * q / 4)) for q in (1, 2, 3, 4)})


def pretraining_model_config(**overrides: Any) -> ModelConfig:
    """The network of spec 2 as pre-trained: no extra dropout on the encoder output (the code), 0.1
    elsewhere; fine-tuning sets its own dropouts when it loads the checkpoint."""
    return ModelConfig(**{"encoder_dropout": 0.0, **overrides})


@dataclass
class Run:
    """A pre-training run in progress: its settings, model, optimizer, data and position."""

    out: Path
    corpus: str
    model_config: ModelConfig
    config: PretrainConfig
    data_config: PretrainDataConfig
    device: torch.device
    distributed: bool
    streams: list[int]  # this process's corpus streams
    n_streams: int
    tokenizer: Any = None
    data: Any = None  # PretrainData
    model: Any = None  # PretrainModel
    optimizer: Any = None
    scheduler: Any = None
    step: int = 0
    counts: dict[int, int] = field(default_factory=dict)  # micro-batches drawn per stream (dropout seeds)
    baselines: Baselines = field(default_factory=Baselines)
    checkpoints: list[str] = field(default_factory=list)

    @property
    def per_rank(self) -> int:
        return self.config.accumulate // world_size()

    @property
    def per_stream(self) -> int:
        return self.config.accumulate // self.n_streams

    @property
    def instances_per_step(self) -> int:
        return self.config.accumulate * sum(self.config.micro(t) for t in self.config.tasks)


def _settings(
    out: Path,
    corpus: str | Path,
    resume: bool,
    model_config: ModelConfig | None,
    config: PretrainConfig | None,
    data_config: PretrainDataConfig | None,
) -> tuple[str, ModelConfig, PretrainConfig, PretrainDataConfig, tuple[str, ...] | None]:
    """The run's settings: a resumed run's own, else the given ones or the defaults (+ its labels)."""
    if resume:
        saved = read_run_config(out, out / STATE, RUN_FORMAT, "pre-training")
        return (
            saved["corpus"],
            ModelConfig.from_dict(saved["model"]),
            PretrainConfig.from_dict(saved["pretrain"]),
            PretrainDataConfig.from_dict(saved["data"]),
            tuple(saved["labels"]),
        )
    refuse_existing_run(out, out / STATE)
    config = config or PretrainConfig()
    data_config = data_config or PretrainDataConfig(seed=config.seed)
    return str(corpus), model_config or pretraining_model_config(), config, data_config, None


def _open_run(
    out: Path, corpus: str, model_config: ModelConfig, config: PretrainConfig, data_config: Any, device: Any
) -> Run:
    distributed = init_distributed()
    world, me = world_size(), rank()
    n_streams = config.streams or world
    if n_streams % world or config.accumulate % n_streams:
        raise ValueError(
            f"streams ({n_streams}) must be a multiple of the process count ({world}) and divide "
            f"accumulate ({config.accumulate})"
        )
    return Run(
        out,
        corpus,
        model_config,
        config,
        data_config,
        torch.device(device) if device is not None else pick_device(),
        distributed,
        [s for s in range(n_streams) if s % world == me],
        n_streams,
    )


def _build(run: Run, labels: tuple[str, ...] | None, resume: bool) -> str:
    """Tokenizer, data streams, model (+ MLM head), optimizer and schedule; returns how the MLM head
    started ("" for ENPAR)."""
    cfg = run.config
    torch.manual_seed(cfg.seed)
    run.tokenizer = load_tokenizer(run.model_config.encoder)
    encoder = EnparEncoder.build(run.model_config)
    limit = max_pieces(run.tokenizer, encoder.sentence.model.config, run.model_config.max_pieces)
    run.data = PretrainData(
        run.corpus,
        run.tokenizer,
        run.data_config,
        max_pieces=limit,
        streams=run.streams,
        n_streams=run.n_streams,
        tasks=cfg.tasks,
        labels=labels,
    )
    model = PretrainModel(
        encoder, cfg.tasks, len(run.data.labels), acd_form=cfg.acd_loss, acd_margin=cfg.acd_margin
    )
    head = ""
    if MLM in cfg.tasks:
        own = not resume and load_mlm_head(model.heads[MLM], resolve_encoder(run.model_config.encoder))
        head = "the encoder's own MLM head" if own else "a fresh head tied to the word embeddings"
    run.model = model.to(run.device)
    if run.distributed:
        broadcast_parameters(run.model)
    run.optimizer = build_optimizer(run.model, cfg)
    run.scheduler = linear_schedule(run.optimizer, cfg.steps, max(1, round(cfg.warmup * cfg.steps)))
    return head


def _restore(run: Run) -> None:
    """Continue from the trainer state: weights, optimizer, schedule, and the data streams replayed."""
    meta = load_trainer_state(
        run.out / STATE, model=run.model, optimizer=run.optimizer, scheduler=run.scheduler
    )
    run.step = int(meta["step"])
    for s in run.streams:
        for task in run.config.tasks:
            run.data.skip(s, task, run.step * run.per_stream * run.config.micro(task))
    if is_main():
        truncate_jsonl(run.out / LOG, "step", run.step)


def _write_run_config(run: Run, mlm_head: str) -> None:
    run.out.mkdir(parents=True, exist_ok=True)
    write_json(
        run.out / "config.json",
        {
            "format": RUN_FORMAT,
            "corpus": str(Path(run.corpus).resolve()),
            "model": run.model_config.to_dict(),
            "pretrain": run.config.to_dict(),
            "data": run.data_config.to_dict(),
            "labels": list(run.data.labels),
            "world_size": world_size(),
            "streams": run.n_streams,
            "device": str(run.device),
            "mlm_head": mlm_head or None,
            "sentences_in_corpus": len(run.data.index),
            "command": sys.argv,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )


def run_task(run: Run, task: str, instances: list[Any], scale: float) -> tuple[float, float, float, int]:
    """Forward + backward of one objective's micro-batch (in chunks if long), the loss scaled by `scale`;
    returns (mean loss, accuracy, trivial-baseline hits, targets)."""
    chunks = run.data.batches(task, instances, run.config.chunk_tokens)
    total = sum(tb.count for tb in chunks)
    loss = acc = hits = 0.0
    for tb in chunks:
        share = tb.count / total if total else 1.0 / len(chunks)
        with autocast(run.device, run.config.bf16):
            res = run.model(tb.to(run.device))
        (res.loss * (scale * share)).backward()
        loss += float(res.loss.detach()) * share
        acc += res.accuracy * share
        hits += run.baselines.hits(tb)[0]
    return loss, acc, hits, total


def _micro_steps(run: Run) -> torch.Tensor:
    """This process's micro-steps of one optimizer step; per task (loss, accuracy, instances,
    baseline hits, targets), summed over micro-steps."""
    cfg, tasks = run.config, run.config.tasks
    sums = torch.zeros(5 * len(tasks), dtype=torch.float64)
    for a in range(run.per_rank):
        stream = run.streams[(run.step * run.per_rank + a) % len(run.streams)]
        count = run.counts[stream]
        run.counts[stream] += 1
        for k, task in enumerate(tasks):
            instances = run.data.take(stream, task, cfg.micro(task))
            torch.manual_seed(micro_seed(cfg.seed, stream, count, task))  # dropout masks
            loss, acc, hits, targets = run_task(run, task, instances, cfg.weight(task) / cfg.accumulate)
            sums[5 * k : 5 * k + 5] += torch.tensor([loss, acc, len(instances), hits, targets])
    return sums


def _reduce(run: Run, sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients and step sums over processes; with them the distinct sentences drawn per task."""
    distinct = torch.tensor([run.data.distinct(t) for t in run.config.tasks], dtype=torch.float64)
    if run.distributed:
        import torch.distributed as dist

        all_reduce_gradients([p for p in run.model.parameters() if p.requires_grad])
        both = torch.cat([sums, distinct]).to(run.device)  # NCCL reduces device tensors only
        dist.all_reduce(both)
        sums, distinct = both[: len(sums)].cpu(), both[len(sums) :].cpu()
    return sums, distinct


def train_step(run: Run) -> dict[str, Any]:
    """One optimizer step; returns its log row."""
    cfg, tasks = run.config, run.config.tasks
    t0 = time.perf_counter()
    lr = run.scheduler.get_last_lr()[0]
    sums, distinct = _reduce(run, _micro_steps(run))
    params = [p for p in run.model.parameters() if p.requires_grad]
    grad_norm = clip_gradients(params, cfg.grad_clip)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    losses = {t: float(sums[5 * k] / cfg.accumulate) for k, t in enumerate(tasks)}
    if not all(v == v and abs(v) != float("inf") for v in losses.values()):
        raise FloatingPointError(f"step {run.step}: non-finite loss {losses}")
    passes = {t: run.data.passes(t) for t in tasks}  # this process's streams (they advance alike)
    return {
        "step": run.step,
        "lr": lr,
        "loss": sum(cfg.weight(t) * v for t, v in losses.items()),
        "losses": losses,
        "accuracy": {t: float(sums[5 * k + 1] / cfg.accumulate) for k, t in enumerate(tasks)},
        "baseline": {
            t: float(sums[5 * k + 3] / max(1.0, float(sums[5 * k + 4]))) for k, t in enumerate(tasks)
        },
        "instances": {t: int(sums[5 * k + 2]) for k, t in enumerate(tasks)},
        "distinct": {t: int(distinct[k]) for k, t in enumerate(tasks)},
        "passes": passes,
        "grad_norm": grad_norm,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _save(run: Run, losses: dict[str, float]) -> None:
    """Checkpoint folder + trainer state (main process), then everyone waits."""
    if is_main():
        cfg = run.config
        ckpt = run.out / f"step-{run.step:06d}"
        save_checkpoint(
            ckpt,
            run.model,
            kind="pretrain",
            model_config=run.model_config,
            tokenizer=run.tokenizer,
            configs={"pretrain": cfg.to_dict(), "data": run.data_config.to_dict()},
            extra={
                "step": run.step,
                "of_steps": cfg.steps,
                "fraction": round(run.step / cfg.steps, 4),
                "objectives": list(cfg.tasks),
                "typing_labels": list(run.data.labels),
                "corpus": str(run.corpus),
                "losses": losses,
            },
        )
        save_trainer_state(
            run.out / STATE,
            model=run.model,
            optimizer=run.optimizer,
            scheduler=run.scheduler,
            meta={"step": run.step},
        )
        run.checkpoints.append(str(ckpt))
        plot(run.out)
    barrier()


def _announce(run: Run, mlm_head: str) -> None:
    cfg, data = run.config, run.data
    n_params = sum(p.numel() for p in run.model.parameters())
    more = f" (+{len(data.paths) - 1} files)" if len(data.paths) > 1 else ""
    print(
        f"pre-training {'/'.join(t.upper() for t in cfg.tasks)} on {data.paths[0].name}{more} "
        f"({len(data.index):,} sentences): {cfg.steps} steps x {run.instances_per_step} instances "
        f"({cfg.accumulate} micro-steps, {world_size()} process(es), {run.n_streams} stream(s)); "
        f"{n_params / 1e6:.1f}M parameters; device {run.device}"
        + (f"; MLM head: {mlm_head}" if mlm_head else ""),
        file=sys.stderr,
    )


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
    corpus, model_config, config, data_config, labels = _settings(
        out, corpus, resume, model_config, config, data_config
    )
    run = _open_run(out, corpus, model_config, config, data_config, device)
    mlm_head = _build(run, labels, resume)
    if resume:
        _restore(run)
    elif is_main():
        _write_run_config(run, mlm_head)
    barrier()
    run.counts = dict.fromkeys(run.streams, run.step * run.per_stream)
    if is_main():
        _announce(run, mlm_head)
    started, first = time.perf_counter(), run.step
    _loop(run, stop_at, show_progress)
    return _finish(run, time.perf_counter() - started, run.step - first)


def _loop(run: Run, stop_at: int | None, show_progress: bool) -> None:
    cfg = run.config
    bar = None
    if show_progress and is_main():
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=run.step, desc="pretrain", unit="step", dynamic_ncols=True)
    save_at = set(cfg.checkpoint_steps())
    last = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
    run.model.train()
    while run.step < last:
        record = train_step(run)
        if is_main():
            append_row(run.out, record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix({t: f"{v:.3f}" for t, v in record["losses"].items()}, refresh=False)
        if run.step in save_at or run.step == last:
            _save(run, record["losses"])
    if bar is not None:
        bar.close()


def _finish(run: Run, elapsed: float, steps_run: int) -> dict[str, Any]:
    """summary.json: timing, checkpoints, per-objective coverage, loss and accuracy at start and end."""
    tasks = run.config.tasks
    summary: dict[str, Any] = {
        "steps": run.step,
        "steps_this_run": steps_run,
        "seconds_per_step": round(elapsed / steps_run, 3) if steps_run else None,
        "instances_per_step": run.instances_per_step,
        "world_size": world_size(),
        "checkpoints": sorted(
            {*run.checkpoints, *(str(p) for p in sorted(run.out.glob("step-*")) if p.is_dir())}
        ),
        "final": str(run.out / f"step-{run.step:06d}"),
    }
    summary["weights_sha256"] = fingerprints(run.model, run.distributed)  # equal iff in sync
    if is_main():
        from enpar.lossplot import read_log

        rows = read_log(run.out / LOG)
        if rows:
            window = max(1, len(rows) // 10)
            summary["loss_first"] = {t: _mean([r["losses"][t] for r in rows[:window]]) for t in tasks}
            summary["loss_last"] = {t: _mean([r["losses"][t] for r in rows[-window:]]) for t in tasks}
            summary["coverage"] = coverage_summary(rows, tasks)
        write_json(run.out / "summary.json", summary)
    barrier()
    return summary
