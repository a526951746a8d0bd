"""Experiment tracking in MLflow: one MLflow run per training run, its checkpoints'
evaluations, and the model versions that came out of it.

- A training run (`runs/<run_id>/`) is one MLflow run, found again by its tag
  `training_assets.run_id`: a run resumed by a later Dagster run keeps logging into the
  same MLflow run, and the tag `dagster.run_id` names the Dagster run that last wrote it.
- Params: the run's whole `TrainingConfig`. Metrics: every line of `metrics.jsonl` (loss,
  lr, tokens/s per step; validation loss at each checkpoint), each checkpoint's golden and
  validation scores at its step (`eval/…`), the base model's (`base/…`). Artifacts: the
  loss curve, config.json, summary.json and `lineage.json` (the diamonds+ batches, the
  dataset fingerprint, the base model).
- Model registry: the best checkpoint as a version of `<name>-lora` (alias `best`), the
  exported GGUF as a version of `<name>-gguf` (alias `exported`, `deployed` once pushed),
  each tagged with the training run, checkpoint and Dagster run.

Per-step metrics go through MLflow's asynchronous logging (`synchronous=False`): the
training loop hands them over and goes on; `finish` waits for them. The store is MLflow's
own client (`MlflowClient`), not dagster-mlflow (see the README for why). A tracking store
that fails never fails the run: the run folder is the record, the tracker a view of it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

RUN_TAG = "training_assets.run_id"
_log = logging.getLogger(__name__)


def _metric_name(key: str, prefix: str = "") -> str:
    return f"{prefix}{key}".replace(" ", "_")


def step_metrics(record: dict) -> dict[str, float]:
    """The MLflow metrics of one metrics.jsonl line: train/… for an optimizer step, val/…
    for a checkpoint's validation."""
    if "val_loss" in record:
        return {"val/loss": record["val_loss"], "val/perplexity": record["val_perplexity"]}
    return {
        f"train/{key}": record[key]
        for key in ("loss", "lr", "tokens", "tokens_per_second")
        if key in record
    }


@dataclass
class TrackedRun:
    """One training run's MLflow run. Every call is a no-op after the store fails once."""

    client: object
    mlflow_run_id: str
    failed: bool = False
    pending: list = field(default_factory=list)
    seconds_in_calls: float = 0.0  # time the caller spent in log_step: the overhead

    def _guard(self, what: str, action: Callable[[], object]) -> object:
        if self.failed:
            return None
        try:
            return action()
        except Exception as error:  # a tracking store down must not stop training
            self.failed = True
            _log.warning(f"MLflow tracking stopped ({what}): {type(error).__name__}: {error}")
            return None

    def log_params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(key, json.dumps(value)[:6000]) for key, value in sorted(params.items())]
        for start in range(0, len(items), 100):  # MLflow takes 100 params per batch
            self._guard(
                "params",
                lambda chunk=items[start : start + 100]: self.client.log_batch(
                    self.mlflow_run_id, params=chunk
                ),
            )

    def log_step(self, record: dict) -> None:
        """One metrics.jsonl line, handed to MLflow's async queue."""
        started = time.perf_counter()
        self._log_metrics(step_metrics(record), record["step"], synchronous=False)
        self.seconds_in_calls += time.perf_counter() - started

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._log_metrics(metrics, step, synchronous=True)

    def _log_metrics(self, metrics: dict[str, float], step: int, synchronous: bool) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [
            Metric(name, float(value), now, step)
            for name, value in metrics.items()
            if value is not None and value == value  # nan: not measured
        ]
        if not batch:
            return
        operation = self._guard(
            "metrics",
            lambda: self.client.log_batch(
                self.mlflow_run_id, metrics=batch, synchronous=synchronous
            ),
        )
        if operation is not None:
            self.pending.append(operation)

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(key, str(value)[:5000]) for key, value in tags.items()]
        self._guard("tags", lambda: self.client.log_batch(self.mlflow_run_id, tags=batch))

    def log_artifact(self, path: Path) -> None:
        if path.exists():
            self._guard("artifact", lambda: self.client.log_artifact(self.mlflow_run_id, str(path)))

    def log_dict(self, data: dict, name: str) -> None:
        self._guard("artifact", lambda: self.client.log_dict(self.mlflow_run_id, data, name))

    def flush(self) -> None:
        """Wait until every queued metric is written."""
        for operation in self.pending:
            self._guard("flush", operation.wait)
        self.pending.clear()

    def finish(self, status: str = "FINISHED") -> None:
        self.flush()
        self._guard("finish", lambda: self.client.set_terminated(self.mlflow_run_id, status))


class Tracker:
    """An MLflow tracking store and experiment (created on first use)."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.tracking_uri = tracking_uri
        found = self.client.get_experiment_by_name(experiment)
        if found is not None:
            self.experiment_id = found.experiment_id
        else:
            artifact_root.mkdir(parents=True, exist_ok=True)
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=artifact_root.resolve().as_uri()
            )

    def find_run(self, run_id: str) -> str | None:
        """The MLflow run of a training run, or None."""
        found = self.client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{run_id}'", max_results=1
        )
        return found[0].info.run_id if found else None

    def training_run(self, run_id: str, tags: dict[str, str]) -> TrackedRun:
        """The MLflow run of this training run: the existing one (resumed), else a new one."""
        existing = self.find_run(run_id)
        if existing is None:
            created = self.client.create_run(
                self.experiment_id, run_name=run_id, tags={RUN_TAG: run_id, **tags}
            )
            return TrackedRun(self.client, created.info.run_id)
        self.client.update_run(existing, status="RUNNING")
        run = TrackedRun(self.client, existing)
        run.set_tags(tags)
        return run

    def register(
        self, name: str, source: str, run_id: str | None, tags: dict, alias: str
    ) -> str | None:
        """A new version of registered model `name` at `source` (a local path or URI),
        with `alias` pointing at it; its version number, or None when the store failed."""
        from mlflow.exceptions import MlflowException

        try:
            try:
                self.client.create_registered_model(name)
            except MlflowException as error:
                if "already exists" not in str(error).lower():
                    raise
            mlflow_run = self.find_run(run_id) if run_id else None
            version = self.client.create_model_version(
                name, source, run_id=mlflow_run, tags={k: str(v) for k, v in tags.items()}
            )
            self.client.set_registered_model_alias(name, alias, version.version)
            return version.version
        except Exception as error:
            _log.warning(f"MLflow registry: {name} not registered: {type(error).__name__}: {error}")
            return None

    def set_alias(self, name: str, alias: str, version: str) -> None:
        try:
            self.client.set_registered_model_alias(name, alias, version)
        except Exception as error:
            _log.warning(f"MLflow registry: alias {alias} of {name}: {error}")


class TrainingRunLogger:
    """`on_metrics` for `train_lora`: opens the training run's MLflow run at the first
    metrics line (when the run id is known), logs the config as params, then every line."""

    def __init__(self, tracker: Tracker, params: dict, tags: dict[str, str]) -> None:
        self.tracker = tracker
        self.params = params
        self.tags = tags
        self.run: TrackedRun | None = None

    def open(self, run_id: str) -> TrackedRun:
        if self.run is None:
            self.run = self.tracker.training_run(run_id, self.tags)
            self.run.log_params(self.params)
        return self.run

    def __call__(self, run_id: str, record: dict) -> None:
        self.open(run_id).log_step(record)

    def finish(self, summary: dict, run_folder) -> TrackedRun:
        """The run's closing figures, files and lineage; waits for queued metrics."""
        run = self.open(summary["run_id"])
        run.log_metrics(
            {
                "base/val_loss": summary["base_val_loss"],
                "best/val_loss": summary["best_val_loss"],
                "train/tokens_per_second_mean": summary["train_tokens_per_second"],
            },
            summary["steps"],
        )
        for path in (run_folder.loss_curve_file, run_folder.config_file, run_folder.summary_file):
            run.log_artifact(path)
        run.log_dict(
            {
                "batches": summary["batches"],
                "dataset": json.loads(run_folder.config_file.read_text()).get("dataset"),
                "base_model": self.tags.get("base_model"),
                "dagster_run_id": self.tags.get("dagster.run_id"),
            },
            "lineage.json",
        )
        run.set_tags(
            {"best_checkpoint": summary["best_checkpoint"], "batches": ",".join(summary["batches"])}
        )
        run.finish()
        return run


def log_checkpoint_scores(tracker: Tracker, run_id: str, scores: dict) -> None:
    """Each model's evaluation (`model_scores`) into the training run's MLflow run: a
    checkpoint's as eval/… at its step, the base's and deployed model's as base/… and
    deployed/…"""
    mlflow_run = tracker.find_run(run_id)
    if mlflow_run is None:
        return
    run = TrackedRun(tracker.client, mlflow_run)
    for model, score in scores.items():
        prefix = "eval/" if model.startswith("step-") else f"{model}/"
        values = {
            _metric_name(name, prefix): value
            for name, value in vars(score).items()
            if name not in ("model", "step") and isinstance(value, int | float)
        }
        run.log_metrics(values, score.step)
