"""The data half through Celery workers (TRAINING_EXECUTOR=celery) on a local cluster:
a worker process started with `training-assets worker`, the run from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import span, write_lines
from tests.processes import stop_process_group
from tests.test_cli import run_cli


def test_curation_runs_every_step_on_celery_workers(tmp_path: Path):
    env = {
        **os.environ,
        "TRAINING_WORKSPACE": str(tmp_path / "workspace"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "TRAINING_EXECUTOR": "celery",
    }
    source = write_lines(
        tmp_path / "spans.jsonl",
        [span(i, this=f"How do I handle case {i} of topic {i % 5} in Python?") for i in range(40)],
    )
    ingested = run_cli(["ingest", str(source)], tmp_path, env)
    assert ingested.returncode == 0, ingested.stderr
    [key] = ingested.stdout.split()

    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "training_assets.cli", "worker", "--concurrency", "2"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        result = run_cli(["materialize", "--partition", key], tmp_path, env)
    finally:
        stop_process_group(worker)
        log.close()
    worker_log = (tmp_path / "worker.log").read_text()
    assert result.returncode == 0, result.stderr[-3000:] + worker_log[-3000:]

    import dagster as dg

    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        with dg.DagsterInstance.get() as instance:
            [run] = instance.get_runs()
            assert run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["dagster/partition"] == key
            records = instance.get_records_for_run(run.run_id).records
            on_workers = {
                r.event_log_entry.dagster_event.step_key
                for r in records
                if r.event_log_entry.dagster_event
                and "in celery worker" in (r.event_log_entry.dagster_event.message or "")
            }
            diamonds = instance.get_latest_materialization_event(dg.AssetKey("diamonds_plus"))
    finally:
        del os.environ["DAGSTER_HOME"]
    assert {"raw_spans", "span_embeddings", "diamonds_plus", "kernel_state"} <= on_workers
    assert diamonds is not None and diamonds.asset_materialization.partition == key
    assert (tmp_path / "workspace" / "diamonds_plus" / f"{key}.parquet").exists()
    assert "Task execute_plan" in worker_log and "succeeded" in worker_log
    # the broker's files live under DAGSTER_HOME, not wherever the commands ran
    assert (tmp_path / "dagster_home" / "celery" / "control" / "dagster.exchange").exists()
    assert not (tmp_path / "control").exists()


def test_unknown_executor_is_a_clear_error(tmp_path: Path):
    env = {**os.environ, "TRAINING_EXECUTOR": "spark", "DAGSTER_HOME": str(tmp_path / "dh")}
    env["TRAINING_WORKSPACE"] = str(tmp_path / "ws")
    result = run_cli(["materialize", "--partition", "nope"], tmp_path, env)
    assert result.returncode == 2
    assert "TRAINING_EXECUTOR must be one of ('default', 'celery'), got 'spark'" in result.stderr


def test_gpu_steps_go_to_the_gpu_queue_when_one_is_named(tmp_path: Path):
    probe = (
        "import dagster as dg\n"
        "from training_assets.definitions import defs\n"
        "for name in ('raw_spans', 'lora_checkpoints', 'checkpoint_evals', 'gguf_export'):\n"
        "    op = defs.resolve_assets_def(dg.AssetKey(name)).op\n"
        "    print(name, op.tags.get('dagster-celery/queue'))\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dh"), "TRAINING_WORKSPACE": str(tmp_path)}
    for queue, expected in ((None, "None"), ("gpu", "gpu")):
        run_env = {**env, "TRAINING_CELERY_GPU_QUEUE": queue} if queue else env
        out = subprocess.run(
            [sys.executable, "-c", probe], env=run_env, capture_output=True, text=True, check=True
        ).stdout.split("\n")
        assert out[:4] == [
            "raw_spans None",
            f"lora_checkpoints {expected}",
            f"checkpoint_evals {expected}",
            f"gguf_export {expected}",
        ]
