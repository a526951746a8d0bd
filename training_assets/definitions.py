"""The code location: every asset, check, job, sensor and resource of training-assets."""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

import dagster as dg

from resources import (
    AtomicPolarsParquetIOManager,
    BaseModelResource,
    DeployPolicyResource,
    EmbedderResource,
    ExperimentTrackerResource,
    FeedbackResource,
    JsonIOManager,
    OllamaResource,
    RegenerationPolicyResource,
    RotationBudgetResource,
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
from training_assets.embedding.backends import resolve_backend
from training_assets.executors import configured_executor
from training_assets.jobs import (
    curation_job,
    deploy_job,
    preference_job,
    regeneration_job,
    training_job,
)
from training_assets.project_settings import check_settings, settings_path
from training_assets.rotation.assets import rotation_job
from training_assets.settings import (
    BASE_MODEL,
    EMBED_BACKEND,
    EMBED_BATCH_SIZE,
    EMBED_DEVICE,
    EMBED_MODEL,
    FEEDBACK_DB,
    MLFLOW_EXPERIMENT,
    MLFLOW_URI,
    OLLAMA_HOST,
    TABLES_ROOT,
    SettingsError,
    ensure_workspace,
)
from training_assets.stages import CURATION_GROUPS, STAGES


def stage_modules() -> list[ModuleType]:
    return [importlib.import_module(f"training_assets.{stage}.assets") for stage in STAGES]


def run_sections() -> dict[str, tuple[type, ...]]:
    """The settings file's sections beyond the curation steps, and the config classes
    (and policy resources) whose fields each may set."""
    from resources.policies import RegenerationPolicyResource, SensorIntervals
    from training_assets.deploy.assets import GgufExportConfig, OllamaModelfileConfig
    from training_assets.evaluation.assets import BestCheckpointConfig, CheckpointEvalsConfig
    from training_assets.preference.assets import PreferenceDatasetConfig, PreferenceEvalsConfig
    from training_assets.preference.config import PreferenceConfig
    from training_assets.training.assets import TrainingDatasetConfig
    from training_assets.training.config import TrainingConfig

    return {
        "training": (TrainingDatasetConfig, TrainingConfig),
        "evaluation": (CheckpointEvalsConfig, BestCheckpointConfig),
        "deploy": (GgufExportConfig, OllamaModelfileConfig, DeployPolicyResource),
        "loop": (RegenerationPolicyResource, SensorIntervals),
        "preference": (PreferenceDatasetConfig, PreferenceConfig, PreferenceEvalsConfig),
    }


def check_project_settings(assets) -> None:
    """The settings file's names and kinds (project_settings.check_settings), then the
    training values themselves, so that a run a sensor starts tonight cannot fail on them."""
    sections = {name: (cls,) for name, cls in curation_config_classes(assets).items()}
    check_settings(sections | run_sections())
    from training_assets.training.config import TrainingConfig

    problems = TrainingConfig().problems()
    if problems:
        raise SettingsError(f"{settings_path()}: training: " + "; ".join(problems))


def curation_config_classes(assets) -> dict[str, type[dg.Config]]:
    """The curation steps whose config the settings file may set, read off the assets
    themselves: op name -> the `dg.Config` class its function takes as `config`."""
    classes: dict[str, type[dg.Config]] = {}
    for asset in assets:
        if not isinstance(asset, dg.AssetsDefinition):
            continue
        if not set(asset.group_names_by_key.values()) & set(CURATION_GROUPS):
            continue
        function = getattr(asset.op.compute_fn, "decorated_fn", asset.op.compute_fn)
        annotation = getattr(function, "__annotations__", {}).get("config")
        if isinstance(annotation, str):  # `from __future__ import annotations`
            annotation = function.__globals__.get(annotation)
        if isinstance(annotation, type) and issubclass(annotation, dg.Config):
            classes[asset.op.name] = annotation
    return classes


if not os.environ.get("DAGSTER_HOME"):
    logging.getLogger("training_assets").warning(
        "DAGSTER_HOME is not set: Dagster will use a temporary instance and forget runs and batches. "
        "Run `export DAGSTER_HOME=$PWD/dagster_home` (the Makefile and `training-assets` do this for you)."
    )


def build_resources(root: str | None = None) -> dict[str, object]:
    """Resources for a workspace root (default: TRAINING_WORKSPACE or ./workspace)."""
    root = root or str(ensure_workspace())
    tables = TABLES_ROOT.get()
    return {
        "workspace": WorkspaceResource(root=root, tables_root=tables),
        "parquet_io_manager": AtomicPolarsParquetIOManager(base_dir=tables or root),
        "json_io_manager": JsonIOManager(base_dir=root),
        "base_model": BaseModelResource(
            model=BASE_MODEL.get(),
            cache_dir=os.path.join(root, "models"),
        ),
        "feedback": FeedbackResource(path=FEEDBACK_DB.get() or os.path.join(root, "feedback.db")),
        "ollama": OllamaResource(host=OLLAMA_HOST.get()),
        "experiment_tracker": ExperimentTrackerResource(
            root=root,
            tracking_uri=MLFLOW_URI.get() or os.environ.get("MLFLOW_TRACKING_URI", ""),
            experiment=MLFLOW_EXPERIMENT.get(),
        ),
        "deploy_policy": DeployPolicyResource.from_settings(),
        "regeneration_policy": RegenerationPolicyResource.from_settings(),
        "rotation_budget": RotationBudgetResource.from_settings(),
        "embedder": EmbedderResource(
            model=EMBED_MODEL.get(),
            device=EMBED_DEVICE.get(),
            batch_size=EMBED_BATCH_SIZE.get(),
            backend=resolve_backend(EMBED_BACKEND.get(), EMBED_DEVICE.get()),
            cache_path=os.path.join(root, "embedding_cache", "vectors.sqlite"),
        ),
    }


def build_definitions(root: str | None = None) -> dg.Definitions:
    modules = stage_modules()
    assets = dg.load_assets_from_modules(modules, include_specs=True)
    check_project_settings(assets)
    return dg.Definitions(
        assets=assets,
        asset_checks=dg.load_asset_checks_from_modules(modules),
        jobs=[
            curation_job,
            training_job,
            deploy_job,
            rotation_job,
            regeneration_job,
            preference_job,
        ],
        sensors=[landing_sensor, best_checkpoint_sensor, disk_rotation_sensor, low_data_sensor],
        schedules=[nightly_curation_schedule, weekly_retrain_schedule],
        resources=build_resources(root),
        executor=configured_executor(),
    )


defs = build_definitions()


def job_for_execution(name: str, root: str) -> dg.JobDefinition:
    """A job of the code location for one workspace root (the CLI's `dg.execute_job`)."""
    return build_definitions(root).resolve_job_def(name)
