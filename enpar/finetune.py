"""Joint fine-tuning (spec section 4): scheduled sampling, layer-wise LRs, dev model selection, resume, DDP.

Run folder:
    config.json         model + fine-tuning configs, labels, data paths, init checkpoint
    log.txt             one line per event
    dev_metrics.jsonl   one line per epoch: train loss, seconds, p(gold), dev scores when evaluated
    best/               the best checkpoint by dev entity F1 + exact relation F1 (kind "finetune")
    state/              resumable trainer state after the last finished epoch (`--resume`)
    summary.json        written at the end
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from enpar.checkpoint import load_checkpoint, save_checkpoint, transfer_encoder
from enpar.config import FinetuneConfig, Labels, ModelConfig
from enpar.data import (
    Example,
    Specials,
    bucketed_batches,
    build_labels,
    collate,
    context_coverage,
    make_examples,
    target_coverage,
)
from enpar.distill import attach_targets, read_targets
from enpar.encoding import load_tokenizer, max_pieces
from enpar.metrics import CONVENTIONS
from enpar.model import JointModel
from enpar.predict import run_inference
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
from enpar.training import (
    build_optimizer,
    clip_gradients,
    linear_schedule,
    load_trainer_state,
    read_run_config,
    refuse_existing_run,
    save_trainer_state,
    schedule_steps,
    unwrap,
    write_json,
)

RUN_FORMAT = "enpar-finetune-run"


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


def selection_score(scores: dict[str, Any]) -> float:
    """Model selection (spec 4.4): entity micro F1 + exact relation micro F1."""
    return float(scores["entity"]["micro"]["f1"]) + float(scores["relation_strict"]["micro"]["f1"])


def evaluate(
    model: JointModel,
    examples: Sequence[Example],
    specials: Specials,
    *,
    device: torch.device,
    batch_size: int,
    bf16: bool = True,
    progress: Any = None,
) -> tuple[list[Sentence], dict[str, Any]]:
    """Predictions for the examples' sentences and their scores against the examples' gold."""
    from enpar.metrics import score

    preds = run_inference(
        model, examples, specials, device=device, batch_size=batch_size, bf16=bf16, progress=progress
    )
    gold = [ex.sentence for ex in examples]
    pred_sents = [s.with_predictions(e, r) for s, (e, r) in zip(gold, preds, strict=True)]
    return pred_sents, score(gold, pred_sents)


def threshold_sweep(
    model: JointModel,
    examples: Sequence[Example],
    specials: Specials,
    field: str,
    values: Sequence[float] | Sequence[str],
    *,
    device: torch.device,
    batch_size: int = 32,
    progress: Callable[[float | str], None] | None = None,
) -> dict[float | str, dict[str, float]]:
    """Dev scores of one model at each value of a decision threshold (`field`, one of model.THRESHOLDS):
    per value the selection score and the three micro F1s. The model's own setting is restored afterwards."""
    own = getattr(model.config, field)
    results: dict[float | str, dict[str, float]] = {}
    try:
        for value in values:
            model.set_thresholds(**{field: value})
            _, scores = evaluate(model, examples, specials, device=device, batch_size=batch_size)
            key = value if isinstance(value, str) else float(value)
            results[key] = score_row(scores)
            if progress is not None:
                progress(key)
    finally:
        model.set_thresholds(**{field: own})
    return results


def micro_f1s(scores: dict[str, Any]) -> dict[str, float]:
    """The three micro F1s of an enpar.metrics.score result, rounded for JSON."""
    return {conv: round(float(scores[conv]["micro"]["f1"]), 6) for conv in CONVENTIONS}


def score_row(scores: dict[str, Any]) -> dict[str, float]:
    """The selection score and the three micro F1s: one row of a sweep or comparison."""
    return {"score": round(selection_score(scores), 6), **micro_f1s(scores)}


class _Log:
    """log.txt on the main rank, mirrored to stderr (through tqdm so bars are not broken)."""

    def __init__(self, path: Path | None, echo: bool) -> None:
        self.path, self.echo = path, echo

    def __call__(self, message: str) -> None:
        if not is_main():
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        if self.echo:
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)


def _build_model(
    model_config: ModelConfig, labels: Labels, init: str | None, init_mode: str, log: _Log
) -> tuple[JointModel, Any, ModelConfig]:
    if not init:
        tokenizer = load_tokenizer(model_config.encoder)
        return JointModel.build(model_config, labels), tokenizer, model_config
    ckpt = load_checkpoint(init, kind="pretrain")
    # architecture from the pre-trained checkpoint; dropout and performance settings from this run
    cfg = replace(
        ckpt.model_config,
        encoder_dropout=model_config.encoder_dropout,
        dropout=model_config.dropout,
        max_pieces=model_config.max_pieces,
        cnn_group_columns=model_config.cnn_group_columns,
    )
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
) -> dict[str, Any]:
    """Train a JointModel; returns the summary (also written to out/summary.json on the main rank)."""
    out = Path(out)
    distributed = init_distributed()
    log = _Log(out / "log.txt" if is_main() else None, show_progress)
    model_config = model_config or ModelConfig()
    config = config or FinetuneConfig()
    state_dir = out / "state"
    if resume:
        saved = read_run_config(out, state_dir, RUN_FORMAT, "fine-tuning")
        # the run's own settings win; only the epoch budget may be changed on resume
        model_config = ModelConfig.from_dict(saved["model"])
        config = replace(FinetuneConfig.from_dict(saved["finetune"]), epochs=config.epochs)
        labels = Labels.from_dict(saved["labels"])
        init, init_mode = saved.get("init"), saved.get("init_mode", "full")
    else:
        refuse_existing_run(out, state_dir)
        labels = build_labels(train, dev)
    device = torch.device(device) if device is not None else pick_device()
    torch.manual_seed(config.seed)
    # on resume the saved model config already holds an --init checkpoint's architecture, and the weights
    # come from state/, so the init checkpoint is not read again
    model, tokenizer, model_config = _build_model(
        model_config, labels, None if resume else init, init_mode, log
    )
    model.to(device)
    limit = max_pieces(tokenizer, model.encoder.sentence.model.config, model_config.max_pieces)
    specials = Specials.of(tokenizer, limit)
    context = model_config.context_words
    train_ex = make_examples(list(train), tokenizer, labels, context_words=context)
    dev_ex = make_examples(list(dev), tokenizer, labels, context_words=context)
    if config.teacher:  # every training sentence carries the teacher's distributions (Gold.soft)
        if not 0.0 < config.distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in (0, 1] with a teacher, not {config.distill_weight}")
        train_ex = attach_targets(train_ex, read_targets(config.teacher, labels), config.teacher)
    elif config.distill_weight:
        raise ValueError("distill_weight needs a teacher targets file (teacher=FILE)")

    optimizer = build_optimizer(model, config)
    total, warmup = schedule_steps(
        len(train_ex), config.batch_size, config.schedule_epochs or config.epochs, config.warmup
    )
    scheduler = linear_schedule(optimizer, total, warmup)
    averaged = weight_average(model, config.ema_decay)
    meta: dict[str, Any] = {"epoch": 0, "step": 0, "best_score": -1.0, "best_epoch": 0, "bad_evals": 0}
    if resume:
        meta.update(
            load_trainer_state(
                state_dir, model=model, optimizer=optimizer, scheduler=scheduler, averaged=averaged
            )
        )
        log(f"resumed {out} after epoch {meta['epoch']} (step {meta['step']})")
        if is_main():
            _truncate_metrics(out / "dev_metrics.jsonl", meta["epoch"])
    elif is_main():
        out.mkdir(parents=True, exist_ok=True)
        write_json(
            out / "config.json",
            {
                "format": RUN_FORMAT,
                "model": model_config.to_dict(),
                "finetune": config.to_dict(),
                "labels": labels.to_dict(),
                "data": data_paths or {},
                "init": init,
                "init_mode": init_mode,
                "n_train": len(train_ex),
                "n_dev": len(dev_ex),
                "world_size": world_size(),
                "device": str(device),
                "command": sys.argv,
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        log(
            f"fine-tuning on {len(train_ex)} sentences, dev {len(dev_ex)}; {len(labels.entity) - 1} entity "
            f"types, {len(labels.relation) - 1} relation labels; device {device}, world {world_size()}; "
            f"{total} scheduled steps, warmup {warmup}"
        )
        log(target_coverage(train_ex))
        if context:
            log(f"train {context_coverage(train_ex)}; dev {context_coverage(dev_ex)}")

    ddp_model: torch.nn.Module = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
        )
    params = [p for p in model.parameters() if p.requires_grad]

    def dev_scores(candidate: JointModel) -> dict[str, Any]:
        bs = config.eval_batch_size
        return evaluate(candidate, dev_ex, specials, device=device, batch_size=bs, bf16=config.bf16)[1]

    stopped = False
    epoch_seconds: list[float] = []
    # outer bar: epochs with the latest and best dev scores; inner bar (per epoch): steps with the loss
    epochs_bar = _bar(config.epochs, "fine-tuning", show_progress and is_main(), position=0, leave=True)
    if epochs_bar is not None:
        epochs_bar.update(int(meta["epoch"]))
    for epoch in range(int(meta["epoch"]), config.epochs):
        p_gold = gold_probability(epoch, config.schedule_k, config.pretrain_epochs)
        rng = random.Random(config.seed * 1_000_003 + epoch)  # per epoch: resume replays the same order
        batches = bucketed_batches([len(ex) for ex in train_ex], config.batch_size, rng, config.length_pool)
        coins_tags, coins_ents = sampling_coins(len(train_ex), p_gold, rng)
        ddp_model.train()
        started = time.perf_counter()
        loss_sum, loss_n = 0.0, 0
        parts = {"tag": 0.0, "entity": 0.0, "relation": 0.0, **({"distill": 0.0} if config.teacher else {})}
        bar = _bar(len(batches), f"epoch {epoch + 1}", show_progress and is_main(), position=1, leave=False)
        for idx in batches:
            share = idx[rank() :: world_size()] or idx[:1]  # every rank steps, even on a short last batch
            batch = collate([train_ex[i] for i in share], specials).to(device)
            with autocast(device, config.bf16):
                output = ddp_model(batch, [coins_tags[i] for i in share], [coins_ents[i] for i in share])
            loss = output.loss
            if output.distill_loss is not None:
                loss = (1.0 - config.distill_weight) * loss + config.distill_weight * output.distill_loss
                parts["distill"] += float(output.distill_loss.detach())
            loss.backward()
            clip_gradients(params, config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if averaged is not None:
                averaged.update_parameters(model)
            meta["step"] += 1
            loss_sum += float(output.loss.detach())
            loss_n += 1
            for name in ("tag", "entity", "relation"):
                parts[name] += float(getattr(output, f"{name}_loss").detach())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / loss_n:.4f}", refresh=False)
        if bar is not None:
            bar.close()
        seconds = time.perf_counter() - started
        if distributed:  # the logged losses are means over all ranks
            totals = torch.tensor([loss_sum, loss_n, *parts.values()], dtype=torch.float64, device=device)
            torch.distributed.all_reduce(totals)
            loss_sum, loss_n = float(totals[0]), int(totals[1])
            parts = dict(zip(parts, totals[2:].tolist(), strict=True))
        epoch_seconds.append(seconds)
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": meta["step"],
            "p_gold": round(p_gold, 6),
            "train_loss": loss_sum / max(1, loss_n),
            "train_losses": {k: v / max(1, loss_n) for k, v in parts.items()},
            "lr": scheduler.get_last_lr()[0],
            "seconds": round(seconds, 2),
        }
        last = epoch + 1 == config.epochs
        if is_main() and (epoch + 1 >= config.eval_from_epoch or last):
            t0 = time.perf_counter()
            # what dev judges and best/ holds
            selected = model if averaged is None else unwrap_model(averaged.module)
            scores = dev_scores(selected)
            sel = selection_score(scores)
            if averaged is not None:
                raw = dev_scores(model)
                record.update({"dev_raw": micro_f1s(raw), "dev_raw_score": selection_score(raw)})
            record.update(
                {
                    "dev": micro_f1s(scores),
                    "dev_score": sel,
                    "dev_seconds": round(time.perf_counter() - t0, 2),
                    "dev_scores": {c: scores[c]["micro"] for c in CONVENTIONS},
                }
            )
            if sel > meta["best_score"]:
                meta.update(best_score=sel, best_epoch=epoch + 1, bad_evals=0)
                save_checkpoint(
                    out / "best",
                    selected,
                    kind="finetune",
                    model_config=model_config,
                    tokenizer=tokenizer,
                    labels=labels,
                    configs={"finetune": config.to_dict()},
                    extra={
                        "epoch": epoch + 1,
                        "dev": micro_f1s(scores),
                        "dev_score": sel,
                        "data": data_paths or {},
                        "init": init,
                        "init_mode": init_mode,
                    },
                )
                record["best"] = True
            else:
                meta["bad_evals"] += 1
            stopped = meta["bad_evals"] > config.patience
        meta["epoch"] = epoch + 1
        if is_main():
            with (out / "dev_metrics.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            dev_txt = ""
            if "dev" in record:
                d = record["dev"]
                dev_txt = (
                    f" dev ent {d['entity']:.4f} rel {d['relation']:.4f} rel+ {d['relation_strict']:.4f}"
                    f"{' *best*' if record.get('best') else ''}"
                )
                if "dev_raw_score" in record:
                    dev_txt += f" (raw weights: score {record['dev_raw_score']:.4f})"
            log(
                f"epoch {epoch + 1}: loss {record['train_loss']:.4f} p_gold {p_gold:.3f} "
                f"{seconds:.1f}s{dev_txt}"
            )
            save_trainer_state(
                state_dir, model=model, optimizer=optimizer, scheduler=scheduler, meta=meta, averaged=averaged
            )
        if epochs_bar is not None:
            epochs_bar.update(1)
            post = {"loss": f"{record['train_loss']:.3f}", "best": f"{meta['best_score']:.3f}"}
            if "dev" in record:
                post["dev_ent"] = f"{record['dev']['entity']:.3f}"
                post["dev_rel+"] = f"{record['dev']['relation_strict']:.3f}"
            epochs_bar.set_postfix(post)
        barrier()
        if distributed:
            stopped = broadcast_object(stopped)
        if stopped:
            log(
                f"early stop: {meta['bad_evals']} evaluations without improvement "
                f"(patience {config.patience})"
            )
            break
    if epochs_bar is not None:
        epochs_bar.close()
    summary = {
        "best_epoch": meta["best_epoch"],
        "best_dev_score": meta["best_score"],
        "epochs_run": meta["epoch"],
        "early_stopped": stopped,
        "seconds_per_epoch": round(sum(epoch_seconds) / len(epoch_seconds), 2) if epoch_seconds else None,
        "best_dir": str(out / "best"),
    }
    if distributed:
        summary = broadcast_object(summary)  # rank 0 knows the best epoch
    if is_main():
        write_json(out / "summary.json", summary)
        log(f"done: best epoch {meta['best_epoch']} dev score {meta['best_score']:.4f}")
    barrier()
    return summary


def weight_average(model: torch.nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of the model's weights (None when decay is 0)."""
    if not decay:
        return None
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be 0 (off) or in (0, 1), not {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def _bar(total: int, desc: str, enabled: bool, *, position: int = 0, leave: bool = False) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, position=position, leave=leave, dynamic_ncols=True, file=sys.stderr)


def _truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop per-epoch lines past the saved state (an epoch interrupted after logging is redone)."""
    if not path.is_file():
        return
    keep = [
        ln
        for ln in path.read_text(encoding="utf-8").splitlines()
        if ln.strip() and json.loads(ln).get("epoch", 0) <= epochs_done
    ]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")


def unwrap_model(model: torch.nn.Module) -> JointModel:
    return unwrap(model)  # type: ignore[return-value]
