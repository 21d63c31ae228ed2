"""Joint fine-tuning (spec section 4): scheduled sampling, layer-wise LRs, dev model selection, resume, DDP.

Run folder:
    config.json         model + fine-tuning configs, labels, data paths, init checkpoint, preset
    log.txt             one line per event
    dev_metrics.jsonl   one line per epoch: train loss, seconds, p(gold), dev scores when evaluated
    best/               the best checkpoint by dev entity F1 + exact relation F1 (kind "finetune"), with
                        its decoding.json (the preset's prediction-time decoding, enpar.decoding)
    state/              resumable trainer state after the last finished epoch (`--resume`)
    summary.json        written at the end

`finetune` reads as its steps: settings (new or resumed) -> model (fresh or from a pre-trained
checkpoint) -> examples and optimizer -> start or resume the run folder -> epochs (train, evaluate on
dev, keep the best) -> summary.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from enpar.checkpoint import load_checkpoint, save_checkpoint, transfer_encoder
from enpar.config import FinetuneConfig, Labels, ModelConfig, init_model_config
from enpar.data import (
    Example,
    Specials,
    bucketed_batches,
    build_labels,
    collate,
    make_examples,
    target_coverage,
)
from enpar.decoding import DEFAULT_DECODING, Decoding, write_decoding
from enpar.encoding import load_tokenizer, max_pieces
from enpar.metrics import CONVENTIONS
from enpar.model import JointModel
from enpar.presets import get_preset
from enpar.runtime import (
    autocast,
    barrier,
    broadcast_object,
    init_distributed,
    is_main,
    pick_device,
    rank,
    world_size,
)
from enpar.schema import Sentence
from enpar.selection import evaluate, micro_f1s, selection_score
from enpar.storage import truncate_jsonl
from enpar.training import (
    Log,
    build_optimizer,
    clip_gradients,
    linear_schedule,
    load_trainer_state,
    progress_bar,
    read_run_config,
    refuse_existing_run,
    save_trainer_state,
    schedule_steps,
    write_json,
)

RUN_FORMAT = "enpar-finetune-run"
LOSS_PARTS = ("tag", "entity", "relation")


def gold_probability(epoch: int, k: float = 3.0, pretrain_epochs: int = 5) -> float:
    """Scheduled sampling (spec 4.2): probability of using gold candidates at 0-based `epoch`;
    1 for epoch <= pretrain_epochs, then k / (k + exp((epoch - pretrain_epochs) / k))."""
    if epoch <= pretrain_epochs:
        return 1.0
    return k / (k + math.exp((epoch - pretrain_epochs) / k))


def sampling_coins(n: int, p: float, rng: random.Random) -> tuple[list[bool], list[bool]]:
    """Two independent per-sentence coins: gold tags for entity candidates, gold entities for pairs."""
    tags = [rng.random() < p for _ in range(n)]
    ents = [rng.random() < p for _ in range(n)]
    return tags, ents


def _build_model(
    model_config: ModelConfig,
    labels: Labels,
    init: str | None,
    init_mode: str,
    log: Log,
    requested: Collection[str] = (),
) -> tuple[JointModel, Any, ModelConfig]:
    """A fresh JointModel (the encoder's pre-trained weights), or one whose encoder.* weights come from
    a pre-trained ENPAR checkpoint `init`; returns it with its tokenizer and its final model config."""
    if not init:
        tokenizer = load_tokenizer(model_config.encoder)
        return JointModel.build(model_config, labels), tokenizer, model_config
    ckpt = load_checkpoint(init, kind="pretrain")
    cfg = init_model_config(ckpt.model_config, model_config, requested, init)
    model = JointModel.build(cfg, labels, hf_config=ckpt.hf_config())
    info = transfer_encoder(model, ckpt.state_dict, mode=init_mode)
    log(
        f"init from {init} (mode {init_mode}): {info['loaded']} tensors loaded, "
        f"{len(info['skipped'])} skipped (name/shape), {len(info['not_in_checkpoint'])} left as initialised"
    )
    if init_mode == "sentence" and any(k.startswith("encoder.sentence.") for k in info["not_in_checkpoint"]):
        raise ValueError(
            f"{init}: the checkpoint lacks sentence-encoder weights: {info['not_in_checkpoint'][:3]}"
        )
    return model, ckpt.tokenizer(), cfg


@dataclass
class _Settings:
    """What a run is: new, or read back from its config.json on resume."""

    model_config: ModelConfig
    config: FinetuneConfig
    labels: Labels
    init: str | None
    init_mode: str
    preset: str | None


@dataclass
class _Trainer:
    """Everything the steps of one run share."""

    out: Path
    settings: _Settings
    model: JointModel
    tokenizer: Any
    specials: Specials
    train_ex: list[Example]
    dev_ex: list[Example]
    device: torch.device
    log: Log
    data_paths: dict[str, str]
    show_progress: bool
    distributed: bool
    optimizer: torch.optim.Optimizer = field(init=False)
    scheduler: Any = field(init=False)
    ddp_model: torch.nn.Module = field(init=False)
    meta: dict[str, Any] = field(
        default_factory=lambda: {"epoch": 0, "step": 0, "best_score": -1.0, "best_epoch": 0, "bad_evals": 0}
    )
    epoch_seconds: list[float] = field(default_factory=list)
    schedule: tuple[int, int] = (0, 0)  # scheduled optimizer steps, warmup steps

    @property
    def config(self) -> FinetuneConfig:
        return self.settings.config


def finetune(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    out: str | Path,
    *,
    model_config: ModelConfig | None = None,
    config: FinetuneConfig | None = None,
    init: str | None = None,
    init_mode: str = "full",
    resume: bool = False,
    device: torch.device | str | None = None,
    show_progress: bool = True,
    data_paths: dict[str, str] | None = None,
    preset: str | None = None,
    requested: Collection[str] | None = None,
) -> dict[str, Any]:
    """Train a JointModel; returns the summary (also written to out/summary.json on the main rank).

    `preset` (enpar.presets) is recorded in config.json and gives best/ its decoding.json; the caller has
    already applied its training settings. With `init`, `requested` names the ModelConfig fields the
    caller asked for (None: those differing from the defaults), checked against the checkpoint's."""
    out = Path(out)
    distributed = init_distributed()
    log = Log(out / "log.txt" if is_main() else None, show_progress)
    new = _Settings(
        model_config or ModelConfig(), config or FinetuneConfig(), Labels(), init, init_mode, preset
    )
    settings = _resumed_settings(out, new.config.epochs) if resume else _new_settings(out, new, train, dev)
    if requested is None:
        requested = _changed_fields(new.model_config)
    device = torch.device(device) if device is not None else pick_device()
    torch.manual_seed(settings.config.seed)
    # on resume the saved model config already holds an --init checkpoint's architecture, and the weights
    # come from state/, so the init checkpoint is not read again
    model, tokenizer, model_cfg = _build_model(
        settings.model_config,
        settings.labels,
        None if resume else settings.init,
        settings.init_mode,
        log,
        requested=requested,
    )
    settings.model_config = model_cfg
    model.to(device)
    limit = max_pieces(tokenizer, model.encoder.sentence.model.config, model_cfg.max_pieces)
    trainer = _Trainer(
        out,
        settings,
        model,
        tokenizer,
        Specials.of(tokenizer, limit),
        make_examples(list(train), tokenizer, settings.labels),
        make_examples(list(dev), tokenizer, settings.labels),
        device,
        log,
        data_paths or {},
        show_progress,
        distributed,
    )
    _prepare_optimisation(trainer)
    _start_or_resume(trainer, resume)
    stopped = _train_epochs(trainer)
    return _finish(trainer, stopped)


def _changed_fields(config: ModelConfig) -> list[str]:
    """The fields of `config` that differ from the defaults (what an API caller asked for)."""
    defaults = ModelConfig()
    return [f.name for f in fields(ModelConfig) if getattr(config, f.name) != getattr(defaults, f.name)]


def _new_settings(
    out: Path, settings: _Settings, train: Sequence[Sentence], dev: Sequence[Sentence]
) -> _Settings:
    """A new run: its folder must not hold another run; the labels are those of train and dev."""
    refuse_existing_run(out, out / "state")
    return replace(settings, labels=build_labels(train, dev))


def _resumed_settings(out: Path, epochs: int) -> _Settings:
    """The run's own settings from its config.json; only the epoch budget may change on resume."""
    saved = read_run_config(out, out / "state", RUN_FORMAT, "fine-tuning")
    try:
        model_config = ModelConfig.from_dict(saved["model"])
        config = replace(FinetuneConfig.from_dict(saved["finetune"]), epochs=epochs)
        labels = Labels.from_dict(saved["labels"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{out / 'config.json'}: {exc}") from None
    init, init_mode, preset = saved.get("init"), saved.get("init_mode", "full"), saved.get("preset")
    return _Settings(model_config, config, labels, init, init_mode, preset)


def _prepare_optimisation(t: _Trainer) -> None:
    """AdamW with layer-wise rates, the warmup + linear-decay schedule, and the DDP wrapper."""
    cfg = t.config
    t.optimizer = build_optimizer(t.model, cfg)
    total, warmup = schedule_steps(
        len(t.train_ex), cfg.batch_size, cfg.schedule_epochs or cfg.epochs, cfg.warmup
    )
    t.scheduler = linear_schedule(t.optimizer, total, warmup)
    t.schedule = (total, warmup)
    t.ddp_model = t.model
    if t.distributed:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [t.device.index] if t.device.type == "cuda" else None
        t.ddp_model = DistributedDataParallel(t.model, device_ids=device_ids, find_unused_parameters=True)


def _start_or_resume(t: _Trainer, resume: bool) -> None:
    """Resume: restore state/ and drop dev_metrics lines past it. New: write config.json and log the data."""
    s, out = t.settings, t.out
    total, warmup = t.schedule
    if resume:
        t.meta.update(
            load_trainer_state(out / "state", model=t.model, optimizer=t.optimizer, scheduler=t.scheduler)
        )
        t.log(f"resumed {out} after epoch {t.meta['epoch']} (step {t.meta['step']})")
        if is_main():
            truncate_jsonl(out / "dev_metrics.jsonl", "epoch", t.meta["epoch"])
        return
    if not is_main():
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(
        out / "config.json",
        {
            "format": RUN_FORMAT,
            "preset": s.preset,
            "model": s.model_config.to_dict(),
            "finetune": s.config.to_dict(),
            "labels": s.labels.to_dict(),
            "data": t.data_paths,
            "init": s.init,
            "init_mode": s.init_mode,
            "n_train": len(t.train_ex),
            "n_dev": len(t.dev_ex),
            "world_size": world_size(),
            "device": str(t.device),
            "command": sys.argv,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    t.log(
        f"fine-tuning on {len(t.train_ex)} sentences, dev {len(t.dev_ex)}; {len(s.labels.entity) - 1} entity "
        f"types, {len(s.labels.relation) - 1} relation labels; device {t.device}, world {world_size()}; "
        f"{total} scheduled steps, warmup {warmup}"
    )
    t.log(target_coverage(t.train_ex))


def _train_epochs(t: _Trainer) -> bool:
    """The epochs from where the run stands; True when patience ran out (early stop)."""
    cfg, stopped = t.config, False
    # outer bar: epochs with the latest and best dev scores; inner bar (per epoch): steps with the loss
    bar = progress_bar(cfg.epochs, "fine-tuning", t.show_progress and is_main(), position=0, leave=True)
    if bar is not None:
        bar.update(int(t.meta["epoch"]))
    for epoch in range(int(t.meta["epoch"]), cfg.epochs):
        record = _train_epoch(t, epoch)
        if is_main() and (epoch + 1 >= cfg.eval_from_epoch or epoch + 1 == cfg.epochs):
            stopped = _evaluate_epoch(t, record)
        t.meta["epoch"] = epoch + 1
        if is_main():
            _record_epoch(t, record)
        if bar is not None:
            bar.update(1)
            post = {"loss": f"{record['train_loss']:.3f}", "best": f"{t.meta['best_score']:.3f}"}
            if "dev" in record:
                post["dev_ent"] = f"{record['dev']['entity']:.3f}"
                post["dev_rel+"] = f"{record['dev']['relation_strict']:.3f}"
            bar.set_postfix(post)
        barrier()
        if t.distributed:
            stopped = broadcast_object(stopped)
        if stopped:
            t.log(
                f"early stop: {t.meta['bad_evals']} evaluations without improvement (patience {cfg.patience})"
            )
            break
    if bar is not None:
        bar.close()
    return stopped


def _train_epoch(t: _Trainer, epoch: int) -> dict[str, Any]:
    """One pass over the training set (0-based `epoch`); returns its dev_metrics.jsonl record so far."""
    cfg = t.config
    p_gold = gold_probability(epoch, cfg.schedule_k, cfg.pretrain_epochs)
    rng = random.Random(cfg.seed * 1_000_003 + epoch)  # per epoch: resume replays the same order
    batches = bucketed_batches([len(ex) for ex in t.train_ex], cfg.batch_size, rng, cfg.length_pool)
    coins_tags, coins_ents = sampling_coins(len(t.train_ex), p_gold, rng)
    params = [p for p in t.model.parameters() if p.requires_grad]
    t.ddp_model.train()
    started = time.perf_counter()
    sums = dict.fromkeys(("loss", *LOSS_PARTS), 0.0)
    n_steps = 0
    bar = progress_bar(
        len(batches), f"epoch {epoch + 1}", t.show_progress and is_main(), position=1, leave=False
    )
    for idx in batches:
        share = idx[rank() :: world_size()] or idx[:1]  # every rank steps, even on a short last batch
        batch = collate([t.train_ex[i] for i in share], t.specials).to(t.device)
        with autocast(t.device, cfg.bf16):
            output = t.ddp_model(batch, [coins_tags[i] for i in share], [coins_ents[i] for i in share])
        output.loss.backward()
        clip_gradients(params, cfg.grad_clip)
        t.optimizer.step()
        t.scheduler.step()
        t.optimizer.zero_grad(set_to_none=True)
        t.meta["step"] += 1
        n_steps += 1
        for name in sums:
            sums[name] += float(getattr(output, "loss" if name == "loss" else f"{name}_loss").detach())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{sums['loss'] / n_steps:.4f}", refresh=False)
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    if t.distributed:  # the logged losses are means over all ranks
        totals = torch.tensor([n_steps, *sums.values()], dtype=torch.float64, device=t.device)
        torch.distributed.all_reduce(totals)
        n_steps, sums = int(totals[0]), dict(zip(sums, totals[1:].tolist(), strict=True))
    t.epoch_seconds.append(seconds)
    return {
        "epoch": epoch + 1,
        "step": t.meta["step"],
        "p_gold": round(p_gold, 6),
        "train_loss": sums["loss"] / max(1, n_steps),
        "train_losses": {k: sums[k] / max(1, n_steps) for k in LOSS_PARTS},
        "lr": t.scheduler.get_last_lr()[0],
        "seconds": round(seconds, 2),
    }


def _evaluate_epoch(t: _Trainer, record: dict[str, Any]) -> bool:
    """Dev scores into `record`; a new best is saved to best/ (with its decoding.json). Returns whether
    patience has run out."""
    cfg, s = t.config, t.settings
    started = time.perf_counter()
    _, scores = evaluate(
        t.model, t.dev_ex, t.specials, device=t.device, batch_size=cfg.eval_batch_size, bf16=cfg.bf16
    )
    sel = selection_score(scores)
    record.update(
        {
            "dev": micro_f1s(scores),
            "dev_score": sel,
            "dev_seconds": round(time.perf_counter() - started, 2),
            "dev_scores": {c: scores[c]["micro"] for c in CONVENTIONS},
        }
    )
    if sel <= t.meta["best_score"]:
        t.meta["bad_evals"] += 1
        return bool(t.meta["bad_evals"] > cfg.patience)
    t.meta.update(best_score=sel, best_epoch=record["epoch"], bad_evals=0)
    best = save_checkpoint(
        t.out / "best",
        t.model,
        kind="finetune",
        model_config=s.model_config,
        tokenizer=t.tokenizer,
        labels=s.labels,
        configs={"finetune": cfg.to_dict()},
        extra={
            "epoch": record["epoch"],
            "dev": micro_f1s(scores),
            "dev_score": sel,
            "data": t.data_paths,
            "init": s.init,
            "init_mode": s.init_mode,
            "preset": s.preset,
        },
    )
    write_decoding(best, _decoding(s.preset))
    record["best"] = True
    return False


def _decoding(preset: str | None) -> Decoding:
    """The prediction-time decoding a run's best/ gets: its preset's, or the defaults."""
    if preset is None:
        return DEFAULT_DECODING
    return Decoding.from_dict(get_preset(preset).decoding, f"preset {preset!r}")


def _record_epoch(t: _Trainer, record: dict[str, Any]) -> None:
    """The epoch's dev_metrics.jsonl line, its log line, and the trainer state to resume from."""
    with (t.out / "dev_metrics.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    dev_txt = ""
    if "dev" in record:
        d = record["dev"]
        dev_txt = (
            f" dev ent {d['entity']:.4f} rel {d['relation']:.4f} rel+ {d['relation_strict']:.4f}"
            f"{' *best*' if record.get('best') else ''}"
        )
    t.log(
        f"epoch {record['epoch']}: loss {record['train_loss']:.4f} p_gold {record['p_gold']:.3f} "
        f"{record['seconds']:.1f}s{dev_txt}"
    )
    save_trainer_state(
        t.out / "state", model=t.model, optimizer=t.optimizer, scheduler=t.scheduler, meta=t.meta
    )


def _finish(t: _Trainer, stopped: bool) -> dict[str, Any]:
    """summary.json (the best epoch and its dev score), agreed on by every rank."""
    meta, secs = t.meta, t.epoch_seconds
    summary = {
        "best_epoch": meta["best_epoch"],
        "best_dev_score": meta["best_score"],
        "epochs_run": meta["epoch"],
        "early_stopped": stopped,
        "seconds_per_epoch": round(sum(secs) / len(secs), 2) if secs else None,
        "best_dir": str(t.out / "best"),
    }
    if t.distributed:
        summary = broadcast_object(summary)  # rank 0 knows the best epoch
    if is_main():
        write_json(t.out / "summary.json", summary)
        t.log(f"done: best epoch {meta['best_epoch']} dev score {meta['best_score']:.4f}")
    barrier()
    return summary
