"""One LoRA training run: `$TRAINING_WORKSPACE/runs/<run_id>/`.

The folder holds `config.json` (the config, the dataset and base-model fingerprints),
`metrics.jsonl` (one line per optimizer step, one per evaluation), `base_eval.json`,
`checkpoints/step-NNNNNN/`, `loss_curve.png` and, at the end, `summary.json`. A run
that dies (SIGKILL included) is continued by starting it again with the same config and
data: the newest complete checkpoint restores weights, optimizer, scheduler and RNG, the
batch order is a function of (seed, epoch), so it ends at the same final step with the
same weights. Any exception writes `crash.json` (config, step, traceback) first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import torch

from training_assets.atomic import write_bytes_atomic, write_json_atomic
from training_assets.lm.batches import IGNORE_INDEX, collate
from training_assets.lm.generation import generate_answers, pad_token_id
from training_assets.lm.hardware import autocast_for
from training_assets.lm.losses import AnswerNLL, answer_nll, example_losses, mean_loss, perplexity
from training_assets.training.batches import packed_batches, padded_batches, real_tokens
from training_assets.training.checkpoints import (
    completed_checkpoints,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from training_assets.training.config import (
    Hardware,
    TrainingConfig,
    TrainingConfigError,
    resolve_hardware,
)
from training_assets.training.dataset import SPLITS, examples_fingerprint
from training_assets.training.distributed import Ranks, current_ranks
from training_assets.training.packed_attention import use_segment_attention
from training_assets.training.run_folder import RunFolder, find_unfinished_run

_log = logging.getLogger(__name__).info


class TrainingDataError(ValueError):
    pass


@dataclass(frozen=True)
class ExampleSet:
    ids: list[str]
    input_ids: list[list[int]]
    prompt_tokens: list[int]
    answers: list[str] = field(default_factory=list)  # reference answers (golden set)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def head(self, count: int) -> ExampleSet:
        return ExampleSet(
            self.ids[:count],
            self.input_ids[:count],
            self.prompt_tokens[:count],
            self.answers[:count],
        )

    def prompts(self) -> list[list[int]]:
        return [ids[:cut] for ids, cut in zip(self.input_ids, self.prompt_tokens, strict=True)]


@dataclass(frozen=True)
class TrainingData:
    train: ExampleSet
    validation: ExampleSet
    golden: ExampleSet
    max_seq_len: int  # the row length packing fills
    fingerprint: str  # of the examples, so a resumed run is sure to see the same data
    # the diamonds+ batches the examples came from: the run's lineage, which rotation
    # reads (from summary.json) to keep the deployed model's batches
    batches: list[str] = field(default_factory=list)


@dataclass
class _Progress:
    step: int = 0  # the last optimizer step completed


def run_identity(
    config: TrainingConfig, data: TrainingData, base_fingerprint: str, world: int = 1
) -> dict:
    identity = {
        # how many processes is the world's business (below), not the config's
        "config": config.model_dump(exclude={"nproc"}),
        "dataset": data.fingerprint,
        "base_model": base_fingerprint,
    }
    if world > 1:  # N processes train on N times the batch: another run
        identity["world_size"] = world
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return {**identity, "digest": digest}


def train_lora(
    *,
    runs_dir: Path,
    config: TrainingConfig,
    data: TrainingData,
    load_model: Callable[[], torch.nn.Module],
    tokenizer,
    base_fingerprint: str,
    log: Callable[[str], None] = _log,
    on_step: Callable[[int], None] | None = None,
    on_metrics: Callable[[str, dict], None] | None = None,
) -> dict:
    """Train (or continue) the run for this config and data; return its summary."""
    config.validate()
    hardware = resolve_hardware(config.device, config.precision)
    if not data.train.ids:
        raise TrainingDataError("the training split is empty: materialize diamonds+ first")
    if not data.validation.ids:
        raise TrainingDataError("the validation split is empty: more diamonds+ are needed")
    ranks = current_ranks()
    identity = run_identity(config, data, base_fingerprint, ranks.world)
    run = None
    if ranks.main:
        run = _open_run(runs_dir, config, identity, hardware)
    run = RunFolder(Path(ranks.broadcast(str(run.path) if run else None)))
    progress = _Progress()

    def record(line: dict) -> None:
        """One metrics.jsonl line (rank 0); `on_metrics` (the experiment tracker) sees it too."""
        if not ranks.main:
            return
        append_metrics_line(run.metrics_file, line)
        if on_metrics:
            on_metrics(run.run_id, line)

    callbacks = _Callbacks(log if ranks.main else _silent, on_step, record, ranks)
    try:
        return _train(run, config, hardware, data, load_model, tokenizer, callbacks, progress)
    except BaseException as error:
        crash = run.crash_file if ranks.main else run.path / f"crash-rank{ranks.rank}.json"
        write_json_atomic(
            crash,
            {
                "config": config.model_dump(),
                "step": progress.step,
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
                "time": datetime.now(UTC).isoformat(),
            },
        )
        raise


def _silent(message: str) -> None:
    pass


def _open_run(runs_dir: Path, config: TrainingConfig, identity: dict, hardware) -> RunFolder:
    """The unfinished run with this identity (resume), else a new run folder."""
    run = find_unfinished_run(runs_dir, identity["digest"]) if config.resume else None
    if run is None:
        run_id = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{identity['digest']}"
        run = RunFolder(runs_dir / run_id)
        run.path.mkdir(parents=True)
        write_json_atomic(
            run.config_file,
            {
                **identity,
                "run_id": run_id,
                "created": datetime.now(UTC).isoformat(),
                "hardware": {"device": str(hardware.device), "precision": hardware.precision},
            },
        )
    return run


def _lora_model(model, config: TrainingConfig):
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = sorted(set(config.target_modules) - present)
    if missing:
        raise TrainingConfigError(
            f"target_modules {missing} are not modules of this model; it has e.g. "
            f"{sorted(n for n in present if n.endswith('proj'))[:8]}"
        )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def _scheduler(optimizer, config: TrainingConfig, total_steps: int):
    from transformers import get_scheduler

    name = "constant_with_warmup" if config.lr_schedule == "constant" else config.lr_schedule
    return get_scheduler(
        name, optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=total_steps
    )


class _BatchStream:
    """Micro-batch number m of the whole run, across epochs, computed on demand."""

    def __init__(
        self, data: ExampleSet, config: TrainingConfig, max_seq_len: int, batch_size: int
    ) -> None:
        self.lengths = data.lengths
        self.config = config
        self.batch_size = batch_size
        self.max_seq_len = max_seq_len
        self._epochs: dict[int, list] = {}
        self.per_epoch = len(self._epoch(0))

    def _epoch(self, epoch: int) -> list:
        if epoch not in self._epochs:
            c = self.config
            self._epochs = {
                epoch: packed_batches(
                    self.lengths, self.max_seq_len, self.batch_size, c.seed, epoch
                )
                if c.packing
                else padded_batches(self.lengths, self.batch_size, c.seed, epoch)
            }
        return self._epochs[epoch]

    def __getitem__(self, number: int):
        return self._epoch(number // self.per_epoch)[number % self.per_epoch]


def _evaluate(model, tokenizer, data: TrainingData, config, hardware: Hardware, pad_id: int):
    validation = data.validation.head(config.max_eval_examples or len(data.validation.ids))
    losses = example_losses(
        model,
        validation.ids,
        validation.input_ids,
        validation.prompt_tokens,
        pad_id,
        hardware.device,
        hardware.autocast_dtype,
    )
    return mean_loss(losses), losses


def _to(value, device: torch.device):
    return value.to(device) if isinstance(value, torch.Tensor) else value


@dataclass(frozen=True)
class _Callbacks:
    log: Callable[[str], None]
    on_step: Callable[[int], None] | None
    record: Callable[[dict], None]
    ranks: Ranks


def _train(run, config, hardware, data, load_model, tokenizer, callbacks, progress) -> dict:
    log, on_step, ranks = callbacks.log, callbacks.on_step, callbacks.ranks
    torch.manual_seed(config.seed)  # the same LoRA init on every rank (DDP also syncs it)
    model = load_model()
    model.config.use_cache = False
    if config.packing and use_segment_attention(model):
        log("packed batches: attention runs per example (segment_sdpa)")
    model = _lora_model(model, config).to(hardware.device)
    pad_id = pad_token_id(tokenizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    # the global batch: batch_size rows per process (training/distributed.py)
    stream = _BatchStream(data.train, config, data.max_seq_len, config.batch_size * ranks.world)
    steps_per_epoch = math.ceil(stream.per_epoch / config.gradient_accumulation)
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))
    scheduler = _scheduler(optimizer, config, total_steps)
    scaler = torch.amp.GradScaler(hardware.device.type) if hardware.uses_grad_scaler else None
    checkpoints_dir = run.checkpoints_dir
    metrics_file = run.metrics_file

    start_step, tokens_seen, train_seconds = 0, 0, 0.0
    ranks.barrier()  # rank 0 has opened the run folder; every rank reads the same checkpoints
    existing = completed_checkpoints(checkpoints_dir)
    if existing:
        state = load_checkpoint(existing[-1], model, optimizer, scheduler)
        start_step, tokens_seen, train_seconds = (
            state["step"],
            state["tokens_seen"],
            state["train_seconds"],
        )
        if ranks.main:
            _keep_metrics_until(metrics_file, start_step)
        progress.step = start_step
        log(f"resuming {run.run_id} from {existing[-1].name} (step {start_step}/{total_steps})")
    elif ranks.main:
        metrics_file.unlink(missing_ok=True)

    base_eval_file = run.base_eval_file
    if ranks.main and not base_eval_file.exists():
        with model.disable_adapter():
            base_val_loss, base_losses = _evaluate(model, tokenizer, data, config, hardware, pad_id)
        write_json_atomic(
            base_eval_file, {"val_loss": base_val_loss, "examples": [vars(x) for x in base_losses]}
        )
    ranks.barrier()
    base_val_loss = json.loads(base_eval_file.read_text())["val_loss"]
    # under DDP the loss is computed through its wrapper, which syncs the gradients
    learner = _data_parallel(AnswerNLL(model), hardware) if ranks.world > 1 else None
    log(
        f"base model validation loss {base_val_loss:.4f} (perplexity {perplexity(base_val_loss):.2f}); "
        f"{total_steps} steps of {config.batch_size}×{config.gradient_accumulation}, {len(data.train.ids)} train examples"
    )

    model.train()
    lengths = data.train.lengths
    if ranks.world > 1:
        log(
            f"data parallel on {ranks.world} processes: global batch {config.batch_size * ranks.world}"
        )
    report_every = max(1, total_steps // 20)
    for step in range(start_step, total_steps):
        started = time.perf_counter()
        micro = [
            stream[step * config.gradient_accumulation + a]
            for a in range(config.gradient_accumulation)
        ]
        # this rank's rows; a rank left without rows (the last batch of an epoch) runs the
        # first row with weight 0, because every rank must join each gradient all-reduce
        shards = [(ranks.shard(b) or b[:1], 1.0 if ranks.shard(b) else 0.0) for b in micro]
        tensors = [
            (collate(b, data.train.input_ids, data.train.prompt_tokens, pad_id, config.packing), w)
            for b, w in shards
        ]
        local_tokens = sum(w * int((t["labels"][:, 1:] != IGNORE_INDEX).sum()) for t, w in tensors)
        answer_tokens = max(ranks.all_sum(local_tokens), 1)
        step_loss = 0.0
        for batch, weight in tensors:
            labels = batch.pop("labels").to(hardware.device)
            with autocast_for(hardware.device, hardware.autocast_dtype):
                inputs = {k: _to(v, hardware.device) for k, v in batch.items()}
                nll, _ = learner(inputs, labels) if learner else answer_nll(model, inputs, labels)
            # DDP averages gradients over ranks: × world makes the sum of the global batch
            loss = weight * nll.sum() / answer_tokens
            (scaler.scale(loss * ranks.world) if scaler else loss * ranks.world).backward()
            step_loss += float(loss.detach())
        if scaler:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step_loss = ranks.all_sum(step_loss)
        seconds = time.perf_counter() - started
        step_tokens = sum(real_tokens(b, lengths) for b in micro)  # the global batch
        tokens_seen += step_tokens
        train_seconds += seconds
        done = step + 1
        progress.step = done
        callbacks.record(
            {
                "step": done,
                "loss": round(step_loss, 5),
                "lr": scheduler.get_last_lr()[0],
                "tokens": step_tokens,
                "tokens_per_second": round(step_tokens / seconds, 1),
            },
        )
        if done % report_every == 0 or done == total_steps:
            rate = tokens_seen / train_seconds
            eta = (total_steps - done) * train_seconds / max(done - start_step, 1)
            log(
                f"step {done}/{total_steps} loss {step_loss:.4f} · {rate:.0f} tokens/s · ETA {int(eta) // 60}m{int(eta) % 60:02d}s"
            )
        if (done % config.checkpoint_every == 0 or done == total_steps) and ranks.main:
            val_loss, losses = _evaluate(model, tokenizer, data, config, hardware, pad_id)
            callbacks.record(
                {
                    "step": done,
                    "val_loss": round(val_loss, 5),
                    "val_perplexity": round(perplexity(val_loss), 4),
                },
            )
            path = save_checkpoint(
                checkpoints_dir,
                done,
                model,
                optimizer,
                scheduler,
                {
                    "tokens_seen": tokens_seen,
                    "train_seconds": train_seconds,
                    "val_loss": val_loss,
                    "val_examples": [vars(x) for x in losses],
                },
            )
            log(
                f"checkpoint {path.name}: validation loss {val_loss:.4f} (base {base_val_loss:.4f})"
            )
            _log_previews(model, tokenizer, data.golden, config, hardware, log)
        if done % config.checkpoint_every == 0 or done == total_steps:
            ranks.barrier()  # the others wait for rank 0's evaluation and checkpoint
        if on_step:
            on_step(done)
    if not ranks.main:
        return {"run_id": run.run_id, "run_dir": str(run.path), "rank": ranks.rank}
    return _summarize(run, config, data, base_val_loss, total_steps, tokens_seen, train_seconds)


def _data_parallel(model, hardware: Hardware):
    """The loss module under DDP: one device per process, gradients all-reduced."""
    from torch.nn.parallel import DistributedDataParallel

    devices = [hardware.device] if hardware.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=devices)


def _log_previews(model, tokenizer, golden: ExampleSet, config, hardware, log) -> None:
    if not config.preview_prompts or not golden.ids:
        return
    sample = golden.head(config.preview_prompts)
    answers = generate_answers(
        model, tokenizer, sample.prompts(), config.preview_tokens, hardware.device
    )
    model.train()
    for example_id, answer in zip(sample.ids, answers, strict=True):
        log(f"preview {example_id}: {answer.text[:200]!r}{'' if answer.stopped else ' …'}")


def append_metrics_line(path: Path, record: dict) -> None:
    """One JSON line at the end of a run's metrics.jsonl."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def _keep_metrics_until(path: Path, step: int) -> None:
    """Drop metric lines a killed run wrote after its last checkpoint (they are redone)."""
    if not path.exists():
        return
    kept = [
        line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step
    ]
    write_bytes_atomic(path, ("\n".join(kept) + "\n" if kept else "").encode())


def _summarize(
    run: RunFolder, config, data, base_val_loss, total_steps, tokens_seen, train_seconds
) -> dict:
    from training_assets.training.plots import loss_curve_png

    checkpoints = [
        {"checkpoint": p.name, "step": s["step"], "val_loss": s["val_loss"]}
        for p in completed_checkpoints(run.checkpoints_dir)
        for s in [read_state(p)]
    ]
    best = min(checkpoints, key=lambda c: (c["val_loss"], c["step"]))
    write_bytes_atomic(run.loss_curve_file, loss_curve_png(run.read_metrics(), base_val_loss))
    summary = {
        "run_id": run.run_id,
        "run_dir": str(run.path),
        "base_val_loss": base_val_loss,
        "best_val_loss": best["val_loss"],
        "best_checkpoint": best["checkpoint"],
        "beats_base": best["val_loss"] < base_val_loss,
        "train_tokens_per_second": tokens_seen / train_seconds if train_seconds else 0.0,
        "train_tokens": tokens_seen,
        "train_seconds": train_seconds,
        "steps": total_steps,
        "examples": {
            "train": len(data.train.ids),
            "validation": len(data.validation.ids),
            "validation_scored": min(
                len(data.validation.ids), config.max_eval_examples or len(data.validation.ids)
            ),
            "golden": len(data.golden.ids),
        },
        "checkpoints": checkpoints,
        "batches": sorted(data.batches),
        "finished": datetime.now(UTC).isoformat(),
    }
    write_json_atomic(run.summary_file, summary)
    return summary


def split_set(examples, split: str) -> ExampleSet:
    """The `TokenizedExample`s of one split (as `build_examples` returns them) as a set."""
    return example_set(
        [
            {
                "id": e.id,
                "input_ids": e.input_ids,
                "prompt_tokens": e.prompt_tokens,
                "answer": e.messages[-1]["content"],
            }
            for e in examples
            if e.split == split
        ]
    )


def example_set(rows: Sequence[dict]) -> ExampleSet:
    return ExampleSet(
        ids=[r["id"] for r in rows],
        input_ids=[list(r["input_ids"]) for r in rows],
        prompt_tokens=[r["prompt_tokens"] for r in rows],
        answers=[r["answer"] for r in rows],
    )


def training_data(table: pl.DataFrame, max_seq_len: int) -> TrainingData:
    """The splits of a training_dataset table, and a fingerprint of exactly its tokens."""
    table = table.sort("id")
    parts = {
        split: example_set(table.filter(pl.col("split") == split).to_dicts()) for split in SPLITS
    }
    batches = (
        sorted(table["batch"].drop_nulls().unique().to_list()) if "batch" in table.columns else []
    )
    return TrainingData(
        parts["train"],
        parts["validation"],
        parts["golden"],
        max_seq_len,
        examples_fingerprint(table, ("id", "split", "prompt_tokens")),
        batches,
    )
