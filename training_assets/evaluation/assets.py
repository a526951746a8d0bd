"""checkpoint_evals (every checkpoint of the run and the base model, per example) and
best_checkpoint (the rule in training_assets/evaluation/selection.py).

torch-based helpers are imported inside the assets, here as in training/ and deploy/: loading
the code location (and every step process of the curation job) then never pays for torch.
"""

from pathlib import Path

import dagster as dg
import polars as pl

from resources.base_model import BaseModelResource
from resources.workspace import WorkspaceResource
from training_assets.evaluation.evaluate import BASE, DEPLOYED, evaluate_run
from training_assets.evaluation.selection import choose_best, model_scores
from training_assets.executors import gpu_step_tags
from training_assets.metadata import markdown_table
from training_assets.training.run_folder import RunFolder


class CheckpointEvalsConfig(dg.Config):
    max_golden_examples: int = 16
    max_new_tokens: int = 96


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
    table, golden_examples = evaluate_run(
        Path(lora_checkpoints["run_dir"]),
        lora_checkpoints["run_id"],
        training_dataset,
        base_model,
        workspace.path,
        config.max_golden_examples,
        config.max_new_tokens,
        context.log.info,
    )
    scores = model_scores(table)
    return dg.Output(
        table,
        metadata={
            "run_id": lora_checkpoints["run_id"],
            "models": len(scores),
            "golden_examples": golden_examples,
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
        "path": str(RunFolder(Path(lora_checkpoints["run_dir"])).checkpoint(best.model))
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
