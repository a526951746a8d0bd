"""checkpoint_evals (every checkpoint of the run and the base model, per example) and
best_checkpoint (the rule in training_assets/evaluation/selection.py).

torch-based helpers are imported inside the assets, here as in training/ and deploy/: loading
the code location (and every step process of the curation job) then never pays for torch.
"""

import time
from pathlib import Path

import dagster as dg
import polars as pl

from resources.base_model import BaseModelResource
from resources.workspace import WorkspaceResource
from training_assets.evaluation.selection import choose_best, model_scores
from training_assets.executors import gpu_step_tags
from training_assets.metadata import markdown_table, rate_line

BASE = "base"
DEPLOYED = "deployed"
# Explicit, so that a column with no value yet (no golden set on small data) keeps its type.
EVAL_SCHEMA = {
    "model": pl.String,
    "step": pl.Int64,
    "split": pl.String,
    "example_id": pl.String,
    "loss_sum": pl.Float64,
    "tokens": pl.Int64,
    "generation": pl.String,
    "chrf": pl.Float64,
    "token_f1": pl.Float64,
    "stopped": pl.Boolean,
    "expected_stop": pl.Boolean,
}


def deployed_checkpoint(root: Path, run_checkpoints: list[Path]) -> Path | None:
    """The adapter of the model deployed now, when it is not one of this run's checkpoints."""
    import json

    record_file = root / "deployed_model.json"
    if not record_file.exists():
        return None
    folder = Path(json.loads(record_file.read_text())["checkpoint_path"])
    if not (folder / "adapter_model.safetensors").exists():
        return None
    if any(folder.resolve() == c.resolve() for c in run_checkpoints):
        return None
    return folder


class CheckpointEvalsConfig(dg.Config):
    max_golden_examples: int = 16
    max_new_tokens: int = 96


def _golden_rows(
    model_name: str, step: int, golden, answers, budget: int, answer_tokens
) -> list[dict]:
    from training_assets.evaluation.measures import chrf, token_f1

    return [
        {
            "model": model_name,
            "step": step,
            "split": "golden",
            "example_id": example_id,
            "loss_sum": None,
            "tokens": None,
            "generation": answer.text,
            "chrf": chrf(answer.text, reference),
            "token_f1": token_f1(answer.text, reference),
            "stopped": answer.stopped,
            "expected_stop": expected <= budget,
        }
        for example_id, reference, answer, expected in zip(
            golden.ids, golden.answers, answers, answer_tokens, strict=True
        )
    ]


def _validation_rows(model_name: str, step: int, examples: list[dict]) -> list[dict]:
    return [
        {
            "model": model_name,
            "step": step,
            "split": "validation",
            "example_id": item["id"],
            "loss_sum": item["loss_sum"],
            "tokens": item["tokens"],
            "generation": None,
            "chrf": None,
            "token_f1": None,
            "stopped": None,
            "expected_stop": None,
        }
        for item in examples
    ]


@dg.asset(
    group_name="evaluation",
    kinds={"pytorch", "parquet"},
    io_manager_key="parquet_io_manager",
    op_tags=gpu_step_tags(),
    description="Per-example results of the base model and every checkpoint of the latest run: "
    "validation loss (answer tokens) and greedy golden-set answers scored with chrF, token F1 "
    "and whether the model ended its turn.",
)
def checkpoint_evals(
    context: dg.AssetExecutionContext,
    config: CheckpointEvalsConfig,
    base_model: BaseModelResource,
    workspace: WorkspaceResource,
    lora_checkpoints: dict,
    training_dataset: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    import json

    from peft import PeftModel

    from training_assets.evaluation.measures import example_losses, generate_answers, pad_token_id
    from training_assets.training.checkpoints import completed_checkpoints, read_state
    from training_assets.training.config import resolve_hardware
    from training_assets.training.run import example_set

    started = time.perf_counter()
    run_dir = Path(lora_checkpoints["run_dir"])
    golden_table = (
        training_dataset.filter(pl.col("split") == "golden")
        .sort("id")
        .head(config.max_golden_examples)
    )
    golden = example_set(golden_table.to_dicts())
    answer_tokens = (golden_table["tokens"] - golden_table["prompt_tokens"]).to_list()
    tokenizer = base_model.tokenizer()
    run_config = json.loads((run_dir / "config.json").read_text())["config"]
    device = resolve_hardware(run_config["device"], run_config["precision"]).device
    checkpoints = completed_checkpoints(run_dir / "checkpoints")
    model = PeftModel.from_pretrained(
        base_model.causal_lm(), str(checkpoints[0]), adapter_name=checkpoints[0].name
    ).to(device)
    rows = _validation_rows(
        BASE, 0, json.loads((run_dir / "base_eval.json").read_text())["examples"]
    )
    with model.disable_adapter():
        answers = generate_answers(
            model, tokenizer, golden.prompts(), config.max_new_tokens, device
        )
    rows += _golden_rows(BASE, 0, golden, answers, config.max_new_tokens, answer_tokens)
    adapters = [(c.name, c, read_state(c)) for c in checkpoints]
    deployed = deployed_checkpoint(workspace.path, checkpoints)
    if deployed is not None:
        adapters.append((DEPLOYED, deployed, None))
    total = 1 + len(adapters)
    context.log.info(
        rate_line(
            f"models evaluated (base: {len(answers)} golden answers)",
            1,
            total,
            time.perf_counter() - started,
        )
    )
    for done, (name, folder, state) in enumerate(adapters, start=2):
        if name not in model.peft_config:
            model.load_adapter(str(folder), adapter_name=name)
        model.set_adapter(name)
        if state is None:  # the deployed model: score it on the run's validation subset
            validation = training_dataset.filter(pl.col("split") == "validation").sort("id")
            subset = example_set(
                validation.head(run_config["max_eval_examples"] or validation.height).to_dicts()
            )
            losses = example_losses(
                model,
                subset.ids,
                subset.input_ids,
                subset.prompt_tokens,
                pad_token_id(tokenizer),
                device,
            )
            state = {"step": -1, "val_examples": [vars(x) for x in losses]}
        rows += _validation_rows(name, state["step"], state["val_examples"])
        answers = generate_answers(
            model, tokenizer, golden.prompts(), config.max_new_tokens, device
        )
        rows += _golden_rows(
            name, state["step"], golden, answers, config.max_new_tokens, answer_tokens
        )
        context.log.info(
            rate_line(
                f"models evaluated ({name}: {len(answers)} golden answers)",
                done,
                total,
                time.perf_counter() - started,
            )
        )
    table = pl.DataFrame(rows, schema=EVAL_SCHEMA).with_columns(
        pl.lit(lora_checkpoints["run_id"]).alias("run_id")
    )
    scores = model_scores(table)
    return dg.Output(
        table,
        metadata={
            "run_id": lora_checkpoints["run_id"],
            "models": len(scores),
            "golden_examples": len(golden.ids),
            "scores": markdown_table(
                ["model", "val loss", "golden chrF", "golden token F1", "stop rate"],
                [
                    (
                        s.model,
                        f"{s.val_loss:.4f}",
                        f"{s.golden_chrf:.2f}",
                        f"{s.golden_token_f1:.3f}",
                        f"{s.stop_rate:.2f}",
                    )
                    for s in scores.values()
                ],
            ),
        },
    )


class BestCheckpointConfig(dg.Config):
    chrf_tolerance: float = 1.0
    stop_tolerance: float = 0.1


@dg.asset(
    group_name="evaluation",
    kinds={"json"},
    io_manager_key="json_io_manager",
    description="The checkpoint with the lowest validation loss among those that do not regress "
    "on the golden set against the deployed model (the base model before any deploy); "
    "`checkpoint` is null when every one regresses.",
)
def best_checkpoint(
    context: dg.AssetExecutionContext,
    config: BestCheckpointConfig,
    lora_checkpoints: dict,
    checkpoint_evals: pl.DataFrame,
) -> dg.Output[dict]:
    scores = model_scores(checkpoint_evals)
    base = scores.pop(BASE)
    reference = scores.pop(DEPLOYED, None) or base
    selection = choose_best(
        list(scores.values()), reference, config.chrf_tolerance, config.stop_tolerance
    )
    best = selection.best
    record = {
        "run_id": lora_checkpoints["run_id"],
        "checkpoint": best.model if best else None,
        "path": str(Path(lora_checkpoints["run_dir"]) / "checkpoints" / best.model)
        if best
        else None,
        "val_loss": best.val_loss if best else None,
        "scores": {
            name: vars(score)
            for name, score in {**scores, BASE: base, reference.model: reference}.items()
        },
        "batches": lora_checkpoints.get("batches", []),
        "golden_prompt": lora_checkpoints.get("golden_prompt"),
        "reference": reference.model,
        "verdicts": selection.verdicts,
        "rule": {"chrf_tolerance": config.chrf_tolerance, "stop_tolerance": config.stop_tolerance},
    }
    if best is None:
        context.log.warning("every checkpoint regresses on the golden set: no best checkpoint")
    return dg.Output(
        record,
        metadata={
            "checkpoint": record["checkpoint"] or "none",
            "val_loss": best.val_loss if best else float("nan"),
            "reference": reference.model,
            "verdicts": markdown_table(["model", "verdict"], selection.verdicts.items()),
        },
    )
