"""The CLI: partition keys alone on stdout, clear errors, and a persistent instance by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import span, write_lines


def run_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training_assets.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_ingest_prints_only_keys_and_defaults_to_local_instance(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "TRAINING_WORKSPACE")}
    good = write_lines(tmp_path / "good.jsonl", [span(i) for i in range(5)])
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\x00\x01 nonsense")
    result = run_cli(["ingest", str(good), str(bad), "--batch-size", "2"], tmp_path, env)
    assert result.returncode == 1
    keys = result.stdout.split()
    assert len(keys) == 3 and all(k.startswith("good-") for k in keys)
    assert f"error: {bad}" in result.stderr
    assert bad.read_bytes() == b"\x00\x01 nonsense"
    assert (tmp_path / "workspace" / "landing").is_dir()
    assert (tmp_path / "dagster_home" / "dagster.yaml").exists()

    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    try:
        with dg.DagsterInstance.get() as instance:
            assert sorted(instance.get_dynamic_partitions("batches")) == sorted(keys)
    finally:
        del os.environ["DAGSTER_HOME"]

    again = run_cli(["ingest", str(good), "--batch-size", "2"], tmp_path, env)
    assert (
        again.returncode == 0 and again.stdout.split() == keys and "already landed" in again.stderr
    )


def test_search_without_an_index_says_what_to_do(tmp_path: Path):
    env = {
        **os.environ,
        "TRAINING_WORKSPACE": str(tmp_path / "ws"),
        "DAGSTER_HOME": str(tmp_path / "dh"),
    }
    result = run_cli(["search", "anything", "--mode", "semantic"], tmp_path, env)
    assert result.returncode == 1 and "materialize span_index first" in result.stderr


def test_bad_setting_is_named_not_a_traceback(tmp_path: Path):
    env = {
        **os.environ,
        "TRAINING_WORKSPACE": str(tmp_path / "ws"),
        "DAGSTER_HOME": str(tmp_path / "dh"),
        "TRAINING_EMBED_BATCH_SIZE": "abc",
    }
    result = run_cli(["materialize", "--partition", "x-0123456789ab-000"], tmp_path, env)
    assert result.returncode == 2
    assert "TRAINING_EMBED_BATCH_SIZE must be a positive integer, got 'abc'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_large_batch_runs_one_step_per_process_and_is_recorded(
    workspace: Path, tmp_path: Path, monkeypatch
):
    import dagster as dg

    from training_assets import launch
    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    source = write_lines(tmp_path / "spans.jsonl", [span(i) for i in range(6)])
    landed, _ = land_file(source, workspace / "landing")
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    monkeypatch.setattr(launch, "ISOLATED_BATCH_SPANS", 1)
    [(key, run_id, ok)] = launch.materialize_batches(landed.keys)
    assert ok and key == landed.keys[0]
    assert instance.get_run_by_id(run_id).tags["dagster/partition"] == key
    assert (workspace / "diamonds_plus" / f"{key}.parquet").exists()
    workers = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.STEP_WORKER_STARTED
    ).records
    steps = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
    assert len(workers) == len(steps) >= 5


def test_a_partition_range_backfills_exactly_those_batches_then_stale_the_rest(
    workspace: Path, tmp_path: Path, capsys
):
    import dagster as dg

    from training_assets import cli
    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    instance = dg.DagsterInstance.get()
    keys = []
    for n in range(3):
        source = write_lines(tmp_path / f"part{n}.jsonl", [span(10 * n + i) for i in range(3)])
        landed, _ = land_file(source, workspace / "landing")
        instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
        keys += landed.keys

    assert cli.main(["materialize", "--partition-range", f"{keys[2]}...{keys[0]}"]) == 2
    assert "the range is empty" in capsys.readouterr().err
    assert cli.main(["materialize", "--partition-range", f"{keys[0]}...{keys[1]}"]) == 0
    curated = {p.stem for p in (workspace / "diamonds_plus").glob("*.parquet")}
    assert curated == set(keys[:2])

    assert cli.main(["materialize", "--stale"]) == 0  # only the batch never curated
    runs = instance.get_run_records(dg.RunsFilter(job_name="curation_job"))
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in runs) == sorted(keys)


def test_a_settings_change_re_runs_exactly_the_steps_it_affects(workspace: Path, tmp_path: Path):
    """A new gate in the curation settings file: `--stale` re-runs diamonds_plus and what
    follows it, not the embeddings before it, and with the new gate."""
    import json

    import dagster as dg

    from tests.conftest import land_and_curate, partition_materializations

    instance = dg.DagsterInstance.get()
    source = write_lines(tmp_path / "spans.jsonl", [span(i) for i in range(4)])
    key = land_and_curate(workspace, source, instance)
    settings = tmp_path / "curation.yaml"
    settings.write_text("diamonds_plus:\n  gate: 99\n")
    env = {**os.environ, "TRAINING_CURATION_CONFIG": str(settings)}

    first = run_cli(["materialize", "--stale"], tmp_path, env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"{key}: stale: diamonds_plus (2026.11.22+" in first.stderr
    again = run_cli(["materialize", "--stale"], tmp_path, env)
    assert again.returncode == 0 and "nothing to materialize" in again.stderr

    def materializations(asset: str) -> int:
        return partition_materializations(instance, asset, key)

    assert materializations("span_embeddings") == materializations("raw_spans") == 1
    assert materializations("diamonds_plus") == materializations("kernel_state") == 2
    report = json.loads((workspace / "diamonds_plus_report" / f"{key}.json").read_text())
    assert report["gate"] == 99.0 and report["diamonds_plus"] == 0  # the spans score 92

    settings.write_text("diamonds_plus:\n  gaet: 99\n")
    typo = run_cli(["materialize", "--stale"], tmp_path, env)
    assert typo.returncode == 2 and "diamonds_plus has no setting(s) ['gaet']" in typo.stderr
    settings.write_text("diamonds_plus:\n  gate: high\n")
    wrong = run_cli(["materialize", "--stale"], tmp_path, env)
    assert wrong.returncode == 2
    assert "diamonds_plus.gate must be a number, got 'high'" in wrong.stderr
