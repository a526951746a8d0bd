"""landing_sensor: hand-dropped files become partitions and runs; bad files are left alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from resources import WorkspaceResource
from sensors import landing_sensor
from tests.conftest import span, write_lines
from training_assets.ingestion.landing import land_file


def tick(instance: dg.DagsterInstance, workspace: Path, cursor: str | None, settle: float = 0.0):
    resource = WorkspaceResource(root=str(workspace), landing_settle_seconds=settle)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"workspace": resource}
    )
    return landing_sensor(context)


def test_dropped_file_is_adopted_registered_and_run_once(workspace: Path, tmp_path: Path):
    instance = dg.DagsterInstance.get()
    landing = workspace / "landing"
    landing.mkdir(parents=True)
    source = write_lines(tmp_path / "drop.jsonl", [span(i) for i in range(3)])
    shutil.copy(source, landing / "My Drop.jsonl")
    (landing / "notes.txt").write_text("not data\n")

    result = tick(instance, workspace, None)
    keys = [request.partition_key for request in result.run_requests]
    assert len(keys) == 1 and keys[0].startswith("my_drop-")
    assert [request.run_key for request in result.run_requests] == keys
    assert result.dynamic_partitions_requests[0].partition_keys == keys
    names = sorted(p.name for p in landing.iterdir() if p.is_file())
    assert names == [f"{keys[0].rsplit('-', 1)[0]}.jsonl", "notes.txt"]
    assert (landing / "notes.txt").read_text() == "not data\n"

    instance.add_dynamic_partitions("batches", keys)
    second = tick(instance, workspace, result.cursor)
    assert second.run_requests == [] and second.dynamic_partitions_requests == []


def test_cli_landed_files_get_runs_but_no_duplicate_partitions(workspace: Path, tmp_path: Path):
    instance = dg.DagsterInstance.get()
    landed, _ = land_file(write_lines(tmp_path / "a.jsonl", [span(1)]), workspace / "landing")
    instance.add_dynamic_partitions("batches", landed.keys)
    result = tick(instance, workspace, None)
    assert [r.partition_key for r in result.run_requests] == landed.keys
    assert result.dynamic_partitions_requests == []


def test_files_still_being_written_are_left_for_later(workspace: Path, tmp_path: Path):
    instance = dg.DagsterInstance.get()
    landing = workspace / "landing"
    landing.mkdir(parents=True)
    source = write_lines(tmp_path / "big.jsonl", [span(i) for i in range(3)])
    shutil.copy(source, landing / "copying.jsonl.part")
    shutil.copy(source, landing / "fresh.jsonl")
    result = tick(instance, workspace, None, settle=60)
    assert result.run_requests == []
    assert sorted(p.name for p in landing.iterdir()) == ["copying.jsonl.part", "fresh.jsonl"]


def test_second_drop_of_the_same_bytes_is_folded_into_the_first(workspace: Path, tmp_path: Path):
    instance = dg.DagsterInstance.get()
    landing = workspace / "landing"
    landing.mkdir(parents=True)
    source = write_lines(tmp_path / "same.jsonl", [span(1)])
    shutil.copy(source, landing / "first.jsonl")
    first = tick(instance, workspace, None)
    shutil.copy(source, landing / "again.jsonl")
    second = tick(instance, workspace, first.cursor)
    assert len(first.run_requests) == 1 and second.run_requests == []
    files = [p.name for p in landing.iterdir() if p.is_file()]
    assert len(files) == 1 and files[0].startswith("first-")
