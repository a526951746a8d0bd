"""Runs jobs here, in this process: the runner behind `training-assets materialize`,
`train`, `deploy` and `rotate`, the demo and the benchmarks.

`dg.execute_job` on a reconstructable job built for this workspace, with run config
for the executor and per-asset config; each run is tagged with its process so that a
killed one is marked failed by the next launch, and a failed one is summed up in one
line a step. Nothing here prints: progress goes to `say` (the CLI passes stderr).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Callable

from training_assets.settings import ensure_dagster_home, ensure_workspace

Say = Callable[[str], None]
_log: Say = logging.getLogger(__name__).info


def instance():
    """The Dagster instance of `$DAGSTER_HOME` (made first if it is missing)."""
    ensure_dagster_home()
    from dagster import DagsterInstance

    return DagsterInstance.get()


# Batches this large run one step per process (Dagster's multiprocess executor, as the UI
# and `dagster asset materialize` do): each step starts from a clean heap and gives all of
# it back when it ends, so no step's peak adds to what the steps before it left behind.
# Smaller ones run in this process: each step's imports (~3 s) would dominate them.
ISOLATED_BATCH_SPANS = 10_000


def run_config(
    ops_config: dict[str, dict] | None = None, *, step_per_process: bool = False
) -> dict:
    """Run config for `dg.execute_job`: the executor, INFO logs, per-asset config.

    Under Dagster's default executor the CLI picks in-process or one step per process; a
    configured executor (TRAINING_EXECUTOR, training_assets/executors.py) is left alone.
    """
    from training_assets.executors import executor_name

    config: dict = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if executor_name() == "default":
        executor = (
            {"multiprocess": {"max_concurrent": 1}} if step_per_process else {"in_process": {}}
        )
        config["execution"] = {"config": executor}
    if ops_config:
        config["ops"] = {name: {"config": c} for name, c in ops_config.items() if c}
    return config


def reconstructable_job(name: str):
    """A reconstructable job for `dg.execute_job`: built for this workspace, in this process
    and in every step process (the root travels with it, not through the environment)."""
    import dagster as dg

    return dg.build_reconstructable_job(
        "training_assets.definitions",
        "job_for_execution",
        reconstructable_kwargs={"name": name, "root": str(ensure_workspace())},
    )


# Runs this command starts carry their process: a run whose process was killed (kill -9,
# an OOM kill, a lost machine) never reports its end and would stay STARTED for ever.
PROCESS_TAG = "training-assets/process"


def _process_tag() -> dict[str, str]:
    return {PROCESS_TAG: f"{socket.gethostname()}:{os.getpid()}"}


def fail_runs_of_dead_processes(instance) -> list[str]:
    """Mark failed the runs started here by a process of this host that is gone."""
    import dagster as dg

    from training_assets.atomic import process_alive

    active = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING]
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=active)):
        host, _, pid = run.tags.get(PROCESS_TAG, "").rpartition(":")
        if host != socket.gethostname() or not pid.isdigit() or process_alive(int(pid)):
            continue
        instance.report_run_failed(
            run, f"the process that ran this run ({host}:{pid}) is gone (killed or crashed)"
        )
        failed.append(run.run_id)
    return failed


def explain_failure(instance, run_id: str) -> list[str]:
    """One line per failed step (its error's first line), and what to do when the disk
    is full, instead of a scroll of Dagster events to read back through."""
    import dagster as dg

    lines, disk_full, io_error = [], False, False
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    for record in records:
        event = record.event_log_entry.dagster_event
        error = event.step_failure_data.error if event.step_failure_data else None
        while error is not None and error.cause is not None:
            error = error.cause  # Dagster's wrapper says which op; its cause says what
        message = (error.message if error else event.message or "").strip()
        first = message.splitlines()[0] if message else "no error message"
        lines.append(f"step {event.step_key} failed: {first[:400]}")
        disk_full |= any(mark in message for mark in _DISK_FULL_MARKS)
        io_error |= "I/O error" in message or "Input/output error" in message
    root = ensure_workspace()
    free = shutil.disk_usage(root).free / (1 << 20)
    # SQLite in WAL mode reports a full disk as "disk I/O error"
    if disk_full or (io_error and free < _LOW_SPACE_MIB):
        lines.append(
            f"the workspace disk is full ({free:.1f} MiB free at {root}): free space "
            "(`training-assets workspace` shows what holds it, `training-assets rotate` "
            "purges old batches) and run the same command again"
        )
    return lines


_DISK_FULL_MARKS = ("No space left on device", "database or disk is full", "Errno 28")
_LOW_SPACE_MIB = 64


def _execute(
    dagster_instance, job_name: str, config: dict, tags: dict, selection, say: Say, prefix: str
) -> tuple[str, bool]:
    """One run here, tagged with this process; a failure summed up through `say`."""
    import dagster as dg

    with dg.execute_job(
        reconstructable_job(job_name),
        dagster_instance,
        run_config=config,
        tags={**tags, **_process_tag()},
        asset_selection=selection,
    ) as result:
        if not result.success:
            for line in explain_failure(dagster_instance, result.run_id):
                say(f"{prefix}{line}")
        return result.run_id, result.success


def materialize_batches(
    keys: list[str], selections: dict | None = None, say: Say = _log
) -> list[tuple[str, str, bool]]:
    """Run the curation job for each batch, or only `selections[key]` (asset keys) of it;
    (key, run_id, success) each.

    `dg.execute_job` with the in-process executor, not `execute_in_process`: the latter
    keeps every step's output in memory for its result object, which for a 50k-span
    batch is several hundred MB of tables nobody reads.
    """
    from training_assets.ingestion.landing import find_manifest

    dagster_instance = instance()
    import training_assets.definitions  # noqa: F401 - settings are checked on import, first

    fail_runs_of_dead_processes(dagster_instance)
    landing = ensure_workspace() / "landing"
    outcomes = []
    for key in keys:
        spans = find_manifest(landing, key).batch(key).spans
        say(f"materializing batch {key} ({spans} spans) ...")
        assets = (selections or {}).get(key)
        run_id, ok = _execute(
            dagster_instance,
            "curation_job",
            run_config(step_per_process=spans >= ISOLATED_BATCH_SPANS),
            {"dagster/partition": key},
            list(assets) if assets else None,
            say,
            f"{key}: ",
        )
        outcomes.append((key, run_id, ok))
    return outcomes


def run_job(
    job_name: str,
    ops_config: dict[str, dict],
    assets: list[str] | None = None,
    say: Say = _log,
) -> tuple[str, bool]:
    """Run `training_job`, `deploy_job` (or some of its `assets`) or `rotation_job` here."""
    import dagster as dg

    dagster_instance = instance()  # sets DAGSTER_HOME before the definitions are imported
    fail_runs_of_dead_processes(dagster_instance)
    say(f"running {job_name} ...")
    selection = [dg.AssetKey(name) for name in assets] if assets else None
    return _execute(dagster_instance, job_name, run_config(ops_config), {}, selection, say, "")
