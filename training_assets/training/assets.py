"""training_dataset (chat examples from every diamonds+ batch) and lora_checkpoints (a run).

The training loop (torch) is imported inside the assets: see evaluation/assets.py.
"""

import hashlib
from pathlib import Path

import dagster as dg
import polars as pl

from resources.base_model import BaseModelResource
from resources.tracking import ExperimentTrackerResource
from resources.workspace import WorkspaceResource
from training_assets.executors import gpu_step_tags
from training_assets.metadata import markdown_table, png_markdown
from training_assets.partitions import batch_partitions
from training_assets.project_settings import section_setter
from training_assets.training.config import TrainingConfig, TrainingConfigError
from training_assets.training.dataset import (
    SPLITS,
    ChatTemplateError,
    build_examples,
    dataset_table,
    length_histogram,
    read_span_vectors,
    read_spans,
)
from training_assets.training.run_folder import RunFolder

diamonds_plus_key = dg.AssetKey("diamonds_plus")

from_file = section_setter("training")  # defaults: the settings file, else these


class TrainingDatasetConfig(dg.Config):
    max_seq_len: int = from_file("max_seq_len", 1024)
    validation_fraction: float = from_file("validation_fraction", 0.05)
    golden_fraction: float = from_file("golden_fraction", 0.02)
    # the golden share grows (up to a quarter of the data) until it holds this many
    golden_min_examples: int = from_file("golden_min_examples", 64)


@dg.asset(
    group_name="training",
    kinds={"polars", "parquet"},
    io_manager_key="parquet_io_manager",
    deps=[diamonds_plus_key],
    description="Chat examples (`messages`) from every diamonds+ batch, rendered with the base "
    "tokenizer's chat template, tokenized with the loss on the answer, split by id hash into "
    "train / validation / golden (length rule: training_assets/training/dataset.py).",
)
def training_dataset(
    context: dg.AssetExecutionContext,
    config: TrainingDatasetConfig,
    base_model: BaseModelResource,
    workspace: WorkspaceResource,
) -> dg.Output[pl.DataFrame]:
    # Every batch partition's diamonds+ table, read lazily (the IO manager would hand back
    # one frame instead of a dict when there is a single batch).
    batches = context.instance.get_dynamic_partitions(batch_partitions.name)
    tables = {key: workspace.table_path("diamonds_plus", key) for key in sorted(batches)}
    spans, batches_read = read_spans(tables)
    if not batches_read:
        raise dg.Failure("no diamonds_plus batch is materialized: run the curation job first")
    tokenizer = base_model.tokenizer()
    vectors = read_span_vectors(
        {key: workspace.table_path("span_embeddings", key) for key in sorted(batches)},
        set(spans["id"].to_list()),
    )
    try:
        examples, counts = build_examples(
            tokenizer,
            spans.iter_rows(named=True),
            config.max_seq_len,
            config.validation_fraction,
            config.golden_fraction,
            config.golden_min_examples,
            vectors,
        )
    except ChatTemplateError as error:
        raise dg.Failure(f"{base_model.model}: {error}") from error
    table = dataset_table(examples, spans)
    template = tokenizer.chat_template or ""
    histogram = length_histogram(table["tokens"].to_list(), config.max_seq_len)
    context.log.info(
        f"{counts.examples} examples from {counts.spans} diamonds+ spans "
        f"({dict(counts.by_split)}); {counts.context_trimmed} context-trimmed, "
        f"{counts.answer_truncated} answers truncated, {counts.dropped_prompt_too_long} dropped; "
        f"held-out examples moved to train (a near-duplicate in train): "
        f"{dict(counts.heldout_moved) or 'none'}"
    )
    return dg.Output(
        table,
        metadata={
            "examples": counts.examples,
            **{f"examples_{split}": counts.by_split.get(split, 0) for split in SPLITS},
            "spans_in": counts.spans,
            "tokens_total": int(table["tokens"].sum() or 0),
            "answer_tokens_total": int((table["tokens"] - table["prompt_tokens"]).sum() or 0),
            "context_trimmed": counts.context_trimmed,
            "answer_truncated": counts.answer_truncated,
            "dropped_prompt_too_long": counts.dropped_prompt_too_long,
            "golden_share": counts.golden_cut,
            "heldout_moved_to_train": sum(counts.heldout_moved.values()),
            **{
                f"heldout_moved_{reason}": counts.heldout_moved.get(reason, 0)
                for reason in ("same_prompt", "ngram", "cosine")
            },
            "span_vectors_for_heldout_check": len(vectors),
            "batches": batches_read,
            "token_length_histogram": markdown_table(
                ["tokens", "examples"], [(f"{low}–{high}", n) for low, high, n in histogram]
            ),
            "chat_template_sha256": hashlib.sha256(template.encode()).hexdigest()[:16],
            "base_model": base_model.model,
        },
    )


@dg.asset(
    group_name="training",
    kinds={"pytorch", "json"},
    io_manager_key="json_io_manager",
    op_tags=gpu_step_tags(),
    description="One LoRA training run on training_dataset: `$TRAINING_WORKSPACE/runs/<run_id>/` "
    "with config.json, metrics.jsonl, checkpoints/ and summary.json. Started again with the "
    "same config and data, an unfinished run resumes from its last checkpoint.",
)
def lora_checkpoints(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    base_model: BaseModelResource,
    workspace: WorkspaceResource,
    experiment_tracker: ExperimentTrackerResource,
    training_dataset: pl.DataFrame,
) -> dg.Output[dict]:
    from training_assets.tracking import TrainingRunLogger
    from training_assets.training.run import TrainingDataError, train_lora, training_data

    max_seq_len = int(training_dataset["tokens"].max() or 1)
    data = training_data(training_dataset, max_seq_len)
    tracker = experiment_tracker.get()
    tracking = (
        TrainingRunLogger(
            tracker,
            config.model_dump(),
            {
                "dagster.run_id": context.run_id,
                "base_model": base_model.model,
                "dataset": data.fingerprint,
            },
        )
        if tracker
        else None
    )
    fingerprint = f"{base_model.model}|{base_model.location().fingerprint}"
    try:
        if config.nproc > 1:
            summary = _train_data_parallel(
                context, config, base_model, workspace, training_dataset, fingerprint
            )
            if tracking:  # the workers' metrics, as they were written
                for line in RunFolder(Path(summary["run_dir"])).read_metrics():
                    tracking(summary["run_id"], line)
        else:
            summary = train_lora(
                runs_dir=workspace.path / "runs",
                config=config,
                data=data,
                load_model=base_model.causal_lm,
                tokenizer=base_model.tokenizer(),
                base_fingerprint=fingerprint,
                log=context.log.info,
                on_metrics=tracking,
            )
    except (TrainingConfigError, TrainingDataError) as error:
        raise dg.Failure(str(error)) from error
    except BaseException:
        if tracking and tracking.run:
            tracking.run.finish("FAILED")
        raise
    tracked = tracking.finish(summary, RunFolder(Path(summary["run_dir"]))) if tracking else None
    golden = training_dataset.filter(pl.col("split") == "golden").sort("id")
    summary["golden_prompt"] = golden["messages"][0][:-1].to_list() if golden.height else None
    curve = RunFolder(Path(summary["run_dir"])).loss_curve_file.read_bytes()
    return dg.Output(
        summary,
        metadata={
            "run_id": summary["run_id"],
            "run_dir": dg.MetadataValue.path(summary["run_dir"]),
            "base_val_loss": summary["base_val_loss"],
            "best_val_loss": summary["best_val_loss"],
            "best_checkpoint": summary["best_checkpoint"],
            "train_tokens_per_second": round(summary["train_tokens_per_second"], 1),
            "steps": summary["steps"],
            **_tracking_metadata(experiment_tracker, tracked, summary["train_seconds"]),
            "loss_curve": png_markdown(curve, "loss curve"),
            "checkpoints": markdown_table(
                ["checkpoint", "step", "validation loss"],
                [
                    (c["checkpoint"], c["step"], f"{c['val_loss']:.4f}")
                    for c in summary["checkpoints"]
                ],
            ),
        },
    )


def _train_data_parallel(context, config, base_model, workspace, table, fingerprint) -> dict:
    """`config.nproc` processes of this machine under torchrun (training/distributed.py)."""
    from training_assets.training.distributed import launch

    config.validate()
    try:
        return launch(
            config.nproc,
            workspace.path / "runs" / ".distributed" / context.run_id,
            config.model_dump(),
            table,
            base_model.model,
            Path(base_model.cache_dir),
            workspace.path / "runs",
            fingerprint,
            context.log.info,
        )
    except RuntimeError as error:
        raise dg.Failure(str(error)) from error


def _tracking_metadata(experiment_tracker, tracked, train_seconds: float) -> dict:
    """Where the run is in MLflow, and what logging to it cost the training loop."""
    if tracked is None:
        return {"mlflow": "off" if not experiment_tracker.enabled else "unavailable"}
    return {
        "mlflow_run_id": tracked.mlflow_run_id,
        "mlflow_tracking_uri": experiment_tracker.uri,
        "mlflow_logging_share_of_step_time": round(
            tracked.seconds_in_calls / max(train_seconds, 1e-9), 5
        ),
    }
