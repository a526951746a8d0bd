"""The code location: every asset, check, job, sensor and resource of training-assets."""

from __future__ import annotations

import logging
import os

import dagster as dg

from resources import (
    AtomicPolarsParquetIOManager,
    BaseModelResource,
    EmbedderResource,
    FeedbackResource,
    JsonIOManager,
    OllamaResource,
    WorkspaceResource,
)
from sensors import (
    best_checkpoint_sensor,
    disk_rotation_sensor,
    landing_sensor,
    low_data_sensor,
    nightly_curation_schedule,
    weekly_retrain_schedule,
)
from training_assets.deploy.assets import deployed_model, gguf_export, ollama_modelfile
from training_assets.diamonds_plus.assets import DiamondsPlusConfig, diamonds_plus
from training_assets.embedding.assets import span_embeddings
from training_assets.enrichment.assets import EnrichmentConfig, enriched_spans
from training_assets.evaluation.assets import best_checkpoint, checkpoint_evals
from training_assets.executors import configured_executor
from training_assets.feedback.assets import feedback_spans, synthetic_spans
from training_assets.indexing.assets import (
    SpanIndexConfig,
    inverted_index,
    span_index,
    span_index_recall,
)
from training_assets.ingestion.assets import RawSpansConfig, raw_spans
from training_assets.jobs import curation_job, deploy_job, regeneration_job, training_job
from training_assets.kernel.assets import KernelStateConfig, global_kernel_state, kernel_state
from training_assets.rotation.assets import batch_archive, rotation_job
from training_assets.settings import ensure_workspace, env_positive_int
from training_assets.training.assets import lora_checkpoints, training_dataset
from training_assets.validation.assets import DiamondConfig, validated_spans
from training_assets.versions import check_settings

if not os.environ.get("DAGSTER_HOME"):
    logging.getLogger("training_assets").warning(
        "DAGSTER_HOME is not set: Dagster will use a temporary instance and forget runs and batches. "
        "Run `export DAGSTER_HOME=$PWD/dagster_home` (the Makefile and `training-assets` do this for you)."
    )


def build_resources(root: str | None = None) -> dict[str, object]:
    """Resources for a workspace root (default: TRAINING_WORKSPACE or ./workspace)."""
    root = root or str(ensure_workspace())
    tables = os.environ.get("TRAINING_TABLES_ROOT", "")
    return {
        "workspace": WorkspaceResource(root=root, tables_root=tables),
        "parquet_io_manager": AtomicPolarsParquetIOManager(base_dir=tables or root),
        "json_io_manager": JsonIOManager(base_dir=root),
        "base_model": BaseModelResource(
            model=os.environ.get("TRAINING_BASE_MODEL", "bundled:smollm2-135m-instruct"),
            cache_dir=os.path.join(root, "models"),
        ),
        "feedback": FeedbackResource(
            path=os.environ.get("TRAINING_FEEDBACK_DB", os.path.join(root, "feedback.db"))
        ),
        "ollama": OllamaResource(host=os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")),
        "embedder": EmbedderResource(
            model=os.environ.get("TRAINING_EMBED_MODEL", "bundled:all-MiniLM-L6-v2"),
            device=os.environ.get("TRAINING_EMBED_DEVICE", "cpu"),
            batch_size=env_positive_int("TRAINING_EMBED_BATCH_SIZE", 16),
            cache_path=os.path.join(root, "embedding_cache", "vectors.sqlite"),
        ),
    }


def build_definitions(root: str | None = None) -> dg.Definitions:
    check_settings(
        {
            "raw_spans": RawSpansConfig,
            "validated_spans": DiamondConfig,
            "enriched_spans": EnrichmentConfig,
            "span_index": SpanIndexConfig,
            "diamonds_plus": DiamondsPlusConfig,
            "kernel_state": KernelStateConfig,
        }
    )
    return dg.Definitions(
        assets=[
            raw_spans,
            validated_spans,
            span_embeddings,
            enriched_spans,
            span_index,
            inverted_index,
            diamonds_plus,
            kernel_state,
            global_kernel_state,
            batch_archive,
            feedback_spans,
            synthetic_spans,
            training_dataset,
            lora_checkpoints,
            checkpoint_evals,
            best_checkpoint,
            gguf_export,
            ollama_modelfile,
            deployed_model,
        ],
        asset_checks=[span_index_recall],
        jobs=[curation_job, training_job, deploy_job, rotation_job, regeneration_job],
        sensors=[landing_sensor, best_checkpoint_sensor, disk_rotation_sensor, low_data_sensor],
        schedules=[nightly_curation_schedule, weekly_retrain_schedule],
        resources=build_resources(root),
        executor=configured_executor(),
    )


defs = build_definitions()


def job_for_execution(name: str, root: str) -> dg.JobDefinition:
    """A job of the code location for one workspace root (the CLI's `dg.execute_job`)."""
    return build_definitions(root).resolve_job_def(name)
