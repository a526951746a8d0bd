"""One preference run after supervised fine-tuning: DPO on pairs, KTO on unpaired
judgements, starting from the best SFT checkpoint. `$TRAINING_WORKSPACE/runs/<run_id>/`,
laid out like an SFT run so the same evaluation and gate read it.

- **Start and reference**: the policy is the base model with the SFT checkpoint's adapter,
  trainable; the reference is that same model before the first update. Its log-probs of
  every example (and, for KTO, of each example's mismatched partner: the prompt with
  another example's answer) are computed once and cached in `reference_logps.json`; a
  resumed run reads them back.
- **The project's own loop**, not TRL's `DPOTrainer`/`KTOTrainer`: their checkpoints are
  not written atomically (a kill mid-save leaves a folder `resume_from_checkpoint` takes),
  their batch order is not a function of (seed, epoch) we control, and they do not write
  the run folder the evaluation reads; the losses are a few lines (losses.py).
- **Checkpoints** every `checkpoint_every` steps, written atomically by the SFT code;
  `step-000000` is the SFT starting point, so the evaluation compares every preference
  checkpoint with where it started, on the same examples. Each holds the validation loss
  on the SFT validation set (the gate's validation rows) and the held-out preference
  margin: per pair (or per desirable × undesirable combination of held-out prompts when
  there are no pairs) the per-token log-prob gap of the desirable answer over the
  undesirable one, and the share of pairs where it is positive (win rate).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import torch

from training_assets.atomic import write_json_atomic
from training_assets.lm.batches import collate
from training_assets.lm.generation import pad_token_id
from training_assets.lm.hardware import autocast_for
from training_assets.lm.losses import answer_nll, example_losses, mean_loss
from training_assets.preference.config import PreferenceConfig
from training_assets.preference.dataset import preference_pairs
from training_assets.preference.losses import dpo_loss, kto_loss
from training_assets.training.batches import epoch_order
from training_assets.training.checkpoints import (
    completed_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from training_assets.training.config import TrainingConfigError, resolve_hardware
from training_assets.training.run import ExampleSet, append_metrics_line
from training_assets.training.run_folder import RunFolder, find_unfinished_run


class PreferenceDataError(ValueError):
    pass


@dataclass(frozen=True)
class PreferenceData:
    table: pl.DataFrame  # preference_dataset
    validation: ExampleSet  # the SFT validation subset, for the gate's validation rows
    fingerprint: str

    def rows(self, split: str) -> list[int]:
        return [i for i, s in enumerate(self.table["split"].to_list()) if s == split]


def sequence_logps(model, input_ids, prompt_tokens, pad_id, device, autocast_dtype) -> torch.Tensor:
    """Sum of the answer tokens' log-probs of each sequence (grad flows when enabled)."""
    batch = collate([[i] for i in range(len(input_ids))], input_ids, prompt_tokens, pad_id, False)
    labels = batch.pop("labels").to(device)
    with autocast_for(device, autocast_dtype):
        nll, rows = answer_nll(model, {k: v.to(device) for k, v in batch.items()}, labels)
    sums = torch.zeros(len(input_ids), dtype=torch.float32, device=nll.device)
    return -sums.index_add(0, rows.to(nll.device), nll.float())


def answer_lengths(input_ids, prompt_tokens) -> list[int]:
    return [len(ids) - cut for ids, cut in zip(input_ids, prompt_tokens, strict=True)]


def mismatched_partner(count: int, seed: int) -> list[int]:
    """Each example's KTO partner: another example's answer, fixed by the seed."""
    if count < 2:
        return list(range(count))
    order = np.random.default_rng([seed, 7]).permutation(count).tolist()
    partner = [0] * count
    for position, index in enumerate(order):
        partner[index] = order[(position + 1) % count]
    return partner


def _mismatched(table: pl.DataFrame, partner: Sequence[int]) -> tuple[list, list]:
    ids, cuts = table["input_ids"].to_list(), table["prompt_tokens"].to_list()
    inputs = [list(ids[i][: cuts[i]]) + list(ids[j][cuts[j] :]) for i, j in enumerate(partner)]
    return inputs, list(cuts)


def margin_figures(logps: Sequence[float], lengths: Sequence[int], pairs) -> dict:
    """Held-out preference margin: per pair, the per-token log-prob gap of the desirable
    answer over the undesirable one; the win rate is the share where it is above 0."""
    gaps = [logps[c] / max(lengths[c], 1) - logps[r] / max(lengths[r], 1) for c, r in pairs]
    return {
        "pairs": len(gaps),
        "gaps": gaps,
        "margin": float(np.mean(gaps)) if gaps else float("nan"),
        "win_rate": float(np.mean([g > 0 for g in gaps])) if gaps else float("nan"),
    }


def heldout_pairs(table: pl.DataFrame) -> list[tuple[int, int]]:
    """Held-out pairs; without any, every held-out desirable × undesirable combination
    (unpaired judgements on different prompts: a weaker but still paired reading)."""
    pairs = preference_pairs(table).get("heldout", [])
    if pairs:
        return pairs
    rows = [i for i, s in enumerate(table["split"].to_list()) if s == "heldout"]
    good = [i for i in rows if table["desirable"][i]]
    bad = [i for i in rows if not table["desirable"][i]]
    return [(c, r) for c in good for r in bad][:2000]


def train_preference(
    *,
    runs_dir: Path,
    config: PreferenceConfig,
    data: PreferenceData,
    sft_run: RunFolder,
    sft_checkpoint: Path,
    load_model: Callable[[], torch.nn.Module],
    tokenizer,
    log: Callable[[str], None] = print,
) -> dict:
    """Train (or continue) the preference run for this config, data and starting
    checkpoint; return its summary."""
    from peft import PeftModel

    problems = config.problems()
    if problems:
        raise TrainingConfigError("bad preference config: " + "; ".join(problems))
    hardware = resolve_hardware(config.device, config.precision)
    table = data.table
    train_rows = data.rows("train")
    train_pairs = preference_pairs(table).get("train", [])
    method = config.method
    if method == "auto":
        method = "dpo" if len(train_pairs) >= config.min_pairs else "kto"
    if method == "dpo" and not train_pairs:
        raise PreferenceDataError("DPO needs pairs: no prompt has both a good and a bad answer")
    if method == "kto" and len(train_rows) < 2:
        raise PreferenceDataError("KTO needs at least two judged answers in train")
    identity = {
        "kind": "preference",
        "method": method,
        "config": config.model_dump(),
        "dataset": data.fingerprint,
        "start": str(sft_checkpoint),
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    run = find_unfinished_run(runs_dir, digest) if config.resume else None
    if run is None:
        run = RunFolder(runs_dir / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-pref-{digest}")
        run.path.mkdir(parents=True)
        # what the evaluation reads of a run: device, precision, the validation subset
        config_record = {
            **identity,
            "config": {**config.model_dump(), "max_eval_examples": config.max_eval_examples},
            "digest": digest,
            "run_id": run.run_id,
            "created": datetime.now(UTC).isoformat(),
            "batches": (sft_run.read_summary() or {}).get("batches", []),
        }
        write_json_atomic(run.config_file, config_record)
        write_json_atomic(run.base_eval_file, json.loads(sft_run.base_eval_file.read_text()))

    torch.manual_seed(config.seed)
    model = PeftModel.from_pretrained(load_model(), str(sft_checkpoint), is_trainable=True)
    model = model.to(hardware.device)
    model.config.use_cache = False
    pad_id = pad_token_id(tokenizer)
    device, dtype = hardware.device, hardware.autocast_dtype
    input_ids, cuts = table["input_ids"].to_list(), table["prompt_tokens"].to_list()
    lengths = answer_lengths(input_ids, cuts)
    partner = mismatched_partner(len(input_ids), config.seed)
    mismatched_ids, mismatched_cuts = _mismatched(table, partner)

    reference_file = run.path / "reference_logps.json"
    if reference_file.exists():
        reference = json.loads(reference_file.read_text())
    else:
        started = time.perf_counter()
        reference = {
            "answers": _logps(model, input_ids, cuts, pad_id, device, dtype),
            "mismatched": _logps(model, mismatched_ids, mismatched_cuts, pad_id, device, dtype)
            if method == "kto"
            else [],
        }
        write_json_atomic(reference_file, reference)
        log(
            f"reference log-probs of {len(input_ids)} answers cached in {time.perf_counter() - started:.1f}s"
        )
    ref_answers = torch.tensor(reference["answers"])
    ref_mismatched = torch.tensor(reference["mismatched"]) if reference["mismatched"] else None

    units = train_pairs if method == "dpo" else train_rows
    per_epoch = math.ceil(len(units) / config.batch_size)
    total = config.max_steps or max(1, math.ceil(config.epochs * per_epoch))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    from transformers import get_scheduler

    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=total)
    pairs_out = heldout_pairs(table)

    scored = sorted({i for pair in pairs_out for i in pair})  # the held-out rows in pairs

    def evaluate() -> dict:
        model.eval()
        with torch.no_grad():
            some = _logps(
                model,
                [input_ids[i] for i in scored],
                [cuts[i] for i in scored],
                pad_id,
                device,
                dtype,
            )
            logps = dict(zip(scored, some, strict=True))
            validation = example_losses(
                model,
                data.validation.ids,
                data.validation.input_ids,
                data.validation.prompt_tokens,
                pad_id,
                device,
                dtype,
            )
        model.train()
        figures = margin_figures(logps, lengths, pairs_out)
        return {
            "val_loss": mean_loss(validation),
            "val_examples": [vars(x) for x in validation],
            **figures,
        }

    checkpoints = run.checkpoints_dir
    existing = completed_checkpoints(checkpoints)
    start_step = 0
    if existing:
        start_step = load_checkpoint(existing[-1], model, optimizer, scheduler)["step"]
        log(f"resuming {run.run_id} from {existing[-1].name} (step {start_step}/{total})")
    else:
        run.metrics_file.unlink(missing_ok=True)
        start = evaluate()  # step 0: the SFT checkpoint itself
        save_checkpoint(checkpoints, 0, model, optimizer, scheduler, start)
        append_metrics_line(run.metrics_file, _eval_line(0, start))
        log(
            f"{method} from {sft_checkpoint.name}: held-out margin {start['margin']:+.4f} nats/token, "
            f"win rate {start['win_rate']:.2f} over {start['pairs']} pairs; {total} steps of {config.batch_size}"
        )

    def rows_logps(rows: list[int], ids: list, prompt_cuts: list) -> torch.Tensor:
        """Answer log-probs of these rows of (ids, prompt_cuts), grad on."""
        picked = [ids[i] for i in rows], [prompt_cuts[i] for i in rows]
        return sequence_logps(model, *picked, pad_id, device, dtype)

    model.train()
    for step in range(start_step, total):
        epoch, position = divmod(step * config.batch_size, max(len(units), 1))
        order = epoch_order(len(units), config.seed, epoch).tolist()
        chosen_units = [units[order[(position + k) % len(units)]] for k in range(config.batch_size)]
        started = time.perf_counter()
        if method == "dpo":
            rows = [c for c, _ in chosen_units] + [r for _, r in chosen_units]
            logps = rows_logps(rows, input_ids, cuts)
            half = len(chosen_units)
            loss, good, bad = dpo_loss(
                logps[:half],
                logps[half:],
                ref_answers[rows[:half]],
                ref_answers[rows[half:]],
                config.beta,
            )
            extra = {
                "reward_accuracy": float((good > bad).float().mean()),
                "reward_margin": float((good - bad).mean()),
            }
        else:
            rows = list(chosen_units)
            logps = rows_logps(rows, input_ids, cuts)
            with torch.no_grad():
                kl_policy = rows_logps(rows, mismatched_ids, mismatched_cuts)
            desirable = torch.tensor([bool(table["desirable"][i]) for i in rows])
            loss, rewards, z0 = kto_loss(
                logps,
                ref_answers[rows],
                desirable,
                kl_policy,
                ref_mismatched[rows],
                config.beta,
                config.desirable_weight,
                config.undesirable_weight,
            )
            extra = {"kl_estimate": float(z0)}
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        append_metrics_line(
            run.metrics_file,
            {
                "step": done,
                "loss": round(float(loss), 5),
                "seconds": round(time.perf_counter() - started, 3),
                **extra,
            },
        )
        if done % config.checkpoint_every == 0 or done == total:
            state = evaluate()
            path = save_checkpoint(checkpoints, done, model, optimizer, scheduler, state)
            append_metrics_line(run.metrics_file, _eval_line(done, state))
            log(
                f"checkpoint {path.name}: loss {float(loss):.4f}, held-out margin "
                f"{state['margin']:+.4f}, win rate {state['win_rate']:.2f}, val loss {state['val_loss']:.4f}"
            )
    feedback_ids = [i for ids in table["feedback_ids"].to_list() for i in ids]
    return _summarize(run, method, total, sft_checkpoint, max(feedback_ids, default=0))


def _logps(model, input_ids, cuts, pad_id, device, dtype, batch_size: int = 8) -> list[float]:
    was_training = model.training
    model.eval()
    out: list[float] = []
    with torch.no_grad():
        for start in range(0, len(input_ids), batch_size):
            out += sequence_logps(
                model,
                input_ids[start : start + batch_size],
                cuts[start : start + batch_size],
                pad_id,
                device,
                dtype,
            ).tolist()
    model.train(was_training)
    return out


def _eval_line(step: int, state: dict) -> dict:
    return {
        "step": step,
        "val_loss": round(state["val_loss"], 5),
        "heldout_margin": round(state["margin"], 5),
        "heldout_win_rate": round(state["win_rate"], 4),
        "heldout_pairs": state["pairs"],
    }


def _summarize(run: RunFolder, method: str, total: int, start: Path, last_feedback: int) -> dict:
    from training_assets.training.checkpoints import read_state

    checkpoints = [
        {
            "checkpoint": p.name,
            "step": s["step"],
            "val_loss": s["val_loss"],
            "heldout_margin": s["margin"],
            "heldout_win_rate": s["win_rate"],
            "heldout_gaps": s["gaps"],
        }
        for p in completed_checkpoints(run.checkpoints_dir)
        for s in [read_state(p)]
    ]
    config = run.read_config()
    summary = {
        "run_id": run.run_id,
        "run_dir": str(run.path),
        "kind": "preference",
        "method": method,
        "start_checkpoint": str(start),
        "steps": total,
        "checkpoints": checkpoints,
        "heldout_pairs": len(checkpoints[0]["heldout_gaps"]),
        "batches": config.get("batches", []),
        # the newest interaction it learned from: low_data_sensor counts newer judgements
        "last_feedback_id": last_feedback,
        "finished": datetime.now(UTC).isoformat(),
    }
    write_json_atomic(run.summary_file, summary)
    return summary
