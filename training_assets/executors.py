"""Where steps run: the one place the executor is chosen (TRAINING_EXECUTOR).

- unset or `default`: Dagster's default (one process per step, run by the run worker);
  the CLI runs small batches in process and big ones one step per process.
- `celery`: every step is a Celery task (dagster-celery), run by whichever worker takes
  it, on this machine or any other that sees the same broker, result backend, Dagster
  instance (Postgres) and workspace. `TRAINING_CELERY_BROKER` and
  `TRAINING_CELERY_BACKEND` name them (e.g. `redis://queue:6379/0` for both); by default
  both are folders under $DAGSTER_HOME/celery (kombu's filesystem transport), a
  one-machine cluster that needs no server. Start workers with
  `training-assets worker` (same settings). GPU-bound steps go to the queue
  `TRAINING_CELERY_GPU_QUEUE` when it is set, served by workers started on GPU nodes
  with `training-assets worker --queue gpu`.

dagster-dask was the first choice and does not work with Dagster 1.13: its `client.submit`
hands Dask the DagsterRun, whose dynamic-partition subset is a `@record` that forbids
the iteration Dask's task parser does ("Iteration is not allowed on `@record`
KeyRangesPartitionsSubset"), with every dask release from 2024.10 to 2026.8. Celery
tasks carry Dagster's own serialization instead.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from training_assets.settings import Setting, ensure_dagster_home

EXECUTORS = ("default", "celery")
CELERY_QUEUE_TAG = "dagster-celery/queue"
DEFAULT_QUEUE = "dagster"


def _one_of_executors(raw: str) -> str:
    name = raw.lower()
    if name not in EXECUTORS:
        raise ValueError(raw)
    return name


EXECUTOR = Setting("TRAINING_EXECUTOR", "default", _one_of_executors, f"one of {EXECUTORS}")
CELERY_BROKER = Setting("TRAINING_CELERY_BROKER", "filesystem://")
CELERY_BACKEND = Setting("TRAINING_CELERY_BACKEND", "")  # empty: files under DAGSTER_HOME
CELERY_GPU_QUEUE = Setting("TRAINING_CELERY_GPU_QUEUE", "")


def executor_name() -> str:
    return EXECUTOR.get()


def celery_config() -> dict:
    """The celery executor's config; the workers are started with the same dict."""
    broker = CELERY_BROKER.get()
    folder = ensure_dagster_home() / "celery"
    backend = CELERY_BACKEND.get() or f"file://{folder / 'results'}"
    config: dict = {"broker": broker, "backend": backend}
    if broker.startswith("filesystem://"):
        queue, processed, control = folder / "queue", folder / "processed", folder / "control"
        for path in (queue, processed, control, folder / "results"):
            path.mkdir(parents=True, exist_ok=True)
        config["config_source"] = {
            "broker_transport_options": {
                "data_folder_in": str(queue),
                "data_folder_out": str(queue),
                "processed_folder": str(processed),
                "control_folder": str(control),  # exchange bindings (default: ./control)
                # workers look for new tasks this often (kombu's default: every second)
                "polling_interval": 0.1,
            },
        }
    elif backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    return config


def configured_executor() -> dg.ExecutorDefinition | None:
    """The executor every job of the code location uses; None keeps Dagster's default."""
    if executor_name() == "default":
        return None
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_config(), name="celery")


def gpu_step_tags() -> dict[str, str]:
    """Op tags of GPU-bound steps: their Celery queue, when TRAINING_CELERY_GPU_QUEUE names one."""
    queue = CELERY_GPU_QUEUE.get()
    return {CELERY_QUEUE_TAG: queue} if queue else {}
