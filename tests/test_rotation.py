"""Kernel states from the curation job, and rotation (archive → verify → purge) on a real
workspace: two curated batches, a real Dagster instance, SIGKILL at every step."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.conftest import land_and_curate, span, write_lines
from training_assets.embedding.cache import EmbeddingCache, cache_key
from training_assets.kernel.files import archive_record, load_ledger, read_kernel
from training_assets.kernel.ledger import batch_merkle_root, verify_archive
from training_assets.kernel.state import global_merkle_root
from training_assets.rotation.rotate import batch_tables, rotation_candidates
from training_assets.rotation.usage import (
    LEDGER,
    BudgetError,
    parse_size,
    tree_bytes,
    workspace_usage,
)

SHARED = ("How do I read a CSV file with polars?", "Call pl.read_csv(path) to get a DataFrame.")
FIRST = [
    ("How do I reverse a list in Python?", "Use my_list[::-1] or my_list.reverse()."),
    ("What is the capital of France?", "Paris is the capital of France."),
    ("How can I speed up a slow SQL query?", "Add an index and read the plan with EXPLAIN."),
    SHARED,
]
SECOND = [
    ("Explain photosynthesis simply", "Plants turn light, water and CO2 into sugar."),
    ("How do I bake sourdough bread?", "Feed the starter, autolyse, fold, bake hot."),
    SHARED,
]

REPO = Path(__file__).resolve().parents[1]


def _land_and_curate(workspace: Path, tmp: Path, name: str, pairs, prefix: str) -> str:
    lines = [span(i, id=f"{prefix}-{i}", this=q, if_ok=a) for i, (q, a) in enumerate(pairs * 3)]
    lines.append("{broken")
    return land_and_curate(workspace, write_lines(tmp / name, lines), dg.DagsterInstance.get())


@pytest.fixture(scope="module")
def curated_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A workspace and Dagster home with two curated batches; tests copy it."""
    base = tmp_path_factory.mktemp("curated")
    home = base / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRAINING_WORKSPACE", str(base / "workspace"))
        patch.setenv("DAGSTER_HOME", str(home))
        first = _land_and_curate(base / "workspace", base, "first.jsonl", FIRST, "a")
        second = _land_and_curate(base / "workspace", base, "second.jsonl", SECOND, "b")
    return base, [first, second]


@pytest.fixture
def curated(curated_template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    base, keys = curated_template
    shutil.copytree(base / "workspace", tmp_path / "workspace")
    shutil.copytree(base / "dagster_home", tmp_path / "dagster_home")
    monkeypatch.setenv("TRAINING_WORKSPACE", str(tmp_path / "workspace"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path / "workspace", keys


def test_curation_writes_kernel_states_and_their_merge(curated):
    root, keys = curated
    states = {key: read_kernel(root, key) for key in keys}
    for key, state in states.items():
        assert state["merkle_root"] == batch_merkle_root(load_ledger(root, key).spans)
        assert state["statistics"]["spans"]["quarantined"] == 1
        assert state["statistics"]["spans"]["diamonds"] == state["spans"] > 0
    merged = json.loads((root / "kernel" / "global.json").read_text())
    assert set(merged["batches"]) == set(keys)
    assert merged["merkle_root"] == global_merkle_root(
        {key: state["merkle_root"] for key, state in states.items()}
    )
    assert merged["spans"] == sum(state["spans"] for state in states.values())


def test_workspace_usage_and_the_cli_table(curated, capsys):
    from training_assets import cli

    root, _ = curated
    usage = workspace_usage(root)
    for component in ("landing", LEDGER, "embedding cache", "indexes", "kernel"):
        assert usage.components[component] > 0, component
    assert usage.components["archives"] == 0
    assert cli.main(["workspace"]) == 0
    out = capsys.readouterr().out
    assert "batch ledgers" in out and "2 batch(es) can rotate" in out


def test_parse_size_reads_units_and_refuses_nonsense():
    assert parse_size("200MB") == 200_000_000
    assert parse_size("1.5 GiB") == int(1.5 * 2**30)
    assert parse_size("4096") == 4096
    with pytest.raises(BudgetError, match="cannot read"):
        parse_size("lots")


def _cache_has(root: Path, text: str) -> bool:
    cache = EmbeddingCache(root / "embedding_cache" / "vectors.sqlite")
    try:
        keys = [cache_key(fp, text) for fp in cache.fingerprints()]
        return any(True for _ in cache.get_many(keys))
    finally:
        cache.close()


def test_rotation_archives_verifies_then_purges_the_oldest_batch(curated, monkeypatch, capsys):
    from training_assets import cli
    from training_assets.definitions import build_definitions

    root, (first, second) = curated
    monkeypatch.setenv("TRAINING_WORKSPACE_BUDGET", "1KB")
    kept_root = read_kernel(root, first)["merkle_root"]
    assert cli.main(["rotate", "--limit", "1"]) == 0

    record = archive_record(root, first)
    archive = root / record["path"]
    assert verify_archive(archive, kept_root).counts["span"] == read_kernel(root, first)["spans"]
    assert batch_tables(root, first) == [] and batch_tables(root, second)
    assert json.loads((root / "span_index" / "manifest.json").read_text())["batches"].keys() == {
        second
    }
    assert json.loads((root / "inverted_index" / "batches.json").read_text()).keys() == {second}
    assert not _cache_has(root, FIRST[0][0])  # only the first batch had it
    assert _cache_has(root, SHARED[0])  # the second batch still uses it
    assert not any((root / "landing").glob("first-*")) and any((root / "landing").glob("second-*"))
    assert rotation_candidates(root) == [second]

    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey("batch_archive"))
    assert event.asset_materialization.partition == first
    assert event.asset_materialization.metadata["archive"].value == str(archive)

    again = (
        build_definitions(str(root))
        .resolve_job_def("curation_job")
        .execute_in_process(
            partition_key=first,
            instance=instance,
            raise_on_error=False,
        )
    )
    assert not again.success  # a rotated batch stays rotated, with a clear reason
    [failure] = [e for e in again.all_events if e.is_step_failure]
    assert "was rotated out" in failure.step_failure_data.error.message

    capsys.readouterr()
    assert cli.main(["kernel", "rebuild", str(archive)]) == 0
    rebuilt = json.loads(capsys.readouterr().out)
    kept = read_kernel(root, first)
    assert rebuilt["merkle_root"] == kept["merkle_root"]
    assert rebuilt["statistics"] == kept["statistics"]
    assert rebuilt["recommendations"] == kept["recommendations"]


def test_a_protected_batch_never_rotates(curated, tmp_path: Path):
    root, (first, second) = curated
    run_dir = root / "runs" / "r1"
    (run_dir / "checkpoints" / "step-000010").mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps({"batches": [first]}))
    (root / "deployed_model.json").write_text(
        json.dumps({"checkpoint_path": str(run_dir / "checkpoints" / "step-000010")})
    )
    assert rotation_candidates(root) == [second]


KILL_SCRIPT = r"""
import os, signal, sys
from pathlib import Path
import training_assets.rotation.rotate as rotate
from training_assets.rotation.usage import Budget

point = sys.argv[2]
def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "archive_written":
    original = rotate.write_archive
    def write_then_die(*args, **kwargs):
        original(*args, **kwargs); die()
    rotate.write_archive = write_then_die
elif point == "verified":
    rotate.write_json_atomic = lambda *args, **kwargs: die()
elif point == "committed":
    rotate.purge_batch = lambda *args, **kwargs: die()
elif point == "mid_purge":
    unlink, count = Path.unlink, [0]
    def unlink_then_die(self, *args, **kwargs):
        unlink(self, *args, **kwargs)
        count[0] += 1
        if count[0] == 2:
            die()
    Path.unlink = unlink_then_die
rotate.rotate(Path(sys.argv[1]), Budget(1), print, force=True, limit=1)
"""


@pytest.mark.parametrize("point", ["archive_written", "verified", "committed", "mid_purge"])
def test_a_rotation_killed_anywhere_leaves_the_batch_intact_or_its_archive_verified(
    curated, point: str
):
    from training_assets.rotation.rotate import rotate
    from training_assets.rotation.usage import Budget

    root, (first, second) = curated
    tables = batch_tables(root, first)
    kept_root = read_kernel(root, first)["merkle_root"]
    killed = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(root), point], capture_output=True, text=True
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    intact = batch_tables(root, first) == tables and all(p.exists() for p in tables)
    record = archive_record(root, first)
    verified = record is not None and verify_archive(root / record["path"], kept_root)
    assert intact or verified
    assert point not in ("archive_written", "verified") or (intact and record is None)

    rotated = rotate(root, Budget(1), lambda message: None, force=True, limit=1)
    assert [r.batch for r in rotated] == [first]
    assert batch_tables(root, first) == []
    verify_archive(root / archive_record(root, first)["path"], kept_root)
    assert len(list((root / "archives").glob(f"ledger-{first}-*.jsonl.gz"))) == 1
    assert batch_tables(root, second)
    frame = pl.read_parquet(root / "diamond_spans" / f"{second}.parquet")
    assert frame.height > 0


def test_disk_rotation_sensor_requests_one_run_only_when_needed(curated, monkeypatch):
    from sensors.disk_rotation_sensor import disk_rotation_sensor
    from training_assets.definitions import build_definitions

    root, (first, second) = curated
    instance = dg.DagsterInstance.get()

    def evaluate(cursor=None):  # resources built at each tick, from the environment then
        resources = build_definitions(str(root)).resources
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        return disk_rotation_sensor(context)

    monkeypatch.setenv("TRAINING_WORKSPACE_BUDGET", "10GB")
    assert isinstance(evaluate(), dg.SkipReason)

    monkeypatch.setenv("TRAINING_WORKSPACE_BUDGET", "100KB")
    result = evaluate("4")
    [request] = result.run_requests
    assert request.run_key == "rotation-5" and result.cursor == "5"

    instance.add_run(dg.DagsterRun(job_name="rotation_job", status=dg.DagsterRunStatus.STARTED))
    skipped = evaluate("5")
    assert isinstance(skipped, dg.SkipReason) and "in flight" in skipped.skip_message


def test_rotating_every_batch_empties_the_indexes_and_shrinks_the_cache(curated):
    from training_assets.rotation.rotate import rotate
    from training_assets.rotation.usage import Budget
    from training_assets.spans.taxonomy import TAXONOMY

    root, keys = curated
    cache_file = root / "embedding_cache" / "vectors.sqlite"
    before = tree_bytes(cache_file.parent)
    rotated = rotate(root, Budget(1), lambda message: None, force=True)
    assert [r.batch for r in rotated] == keys
    manifest = json.loads((root / "span_index" / "manifest.json").read_text())
    assert manifest["batches"] == {} and manifest["live"] == 0
    assert json.loads((root / "inverted_index" / "batches.json").read_text()) == {}
    cache = EmbeddingCache(cache_file)
    assert len(cache) <= len(TAXONOMY)  # only the tag descriptions, which no batch owns
    cache.close()
    assert tree_bytes(cache_file.parent) < before
    db = sqlite3.connect(cache_file)
    assert db.execute("PRAGMA freelist_count").fetchone()[0] == 0  # the pages went back
    db.close()
    assert workspace_usage(root).components[LEDGER] == 0


def _schedule_in_a_fresh_process(settings: Path) -> list[dict]:
    """The nightly schedule evaluated by a process that loads the code location with the
    curation settings file `settings` (code versions are fixed when the code loads)."""
    probe = """
import json, os
from datetime import UTC, datetime
import dagster as dg
from sensors.schedules import nightly_curation_schedule
from training_assets.definitions import build_definitions
defs = build_definitions(os.environ["TRAINING_WORKSPACE"])
context = dg.build_schedule_context(
    instance=dg.DagsterInstance.get(),
    resources=defs.resources,
    repository_def=defs.get_repository_def(),
    scheduled_execution_time=datetime(2026, 11, 23, 2, tzinfo=UTC),
)
print(json.dumps([
    {"batch": r.partition_key, "why": r.tags["training-assets/why"], "run_key": r.run_key,
     "assets": sorted(k.to_user_string() for k in r.asset_selection or [])}
    for r in nightly_curation_schedule(context)
]))
"""
    env = {**os.environ, "TRAINING_CURATION_CONFIG": str(settings)}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_nightly_schedule_curates_new_and_stale_batches_and_skips_rotated_ones(curated, tmp_path):
    from sensors.schedules import nightly_curation_schedule, weekly_retrain_schedule
    from training_assets.definitions import build_definitions
    from training_assets.rotation.rotate import rotate
    from training_assets.rotation.usage import Budget

    root, (first, second) = curated
    instance = dg.DagsterInstance.get()
    defs = build_definitions(str(root))

    def evaluate():
        context = dg.build_schedule_context(
            instance=instance,
            resources=defs.resources,
            repository_def=defs.get_repository_def(),
            scheduled_execution_time=datetime(2026, 11, 23, 2, tzinfo=UTC),
        )
        return nightly_curation_schedule(context)

    assert isinstance(evaluate(), dg.SkipReason)  # both curated under the current versions
    instance.add_dynamic_partitions("batches", ["never-curated-000"])
    [new] = evaluate()
    assert new.partition_key == "never-curated-000" and new.tags["training-assets/why"] == "new"
    assert new.asset_selection is None and new.run_key == "nightly:2026-11-23:never-curated-000:all"

    # a new gate in the settings file: the code location loaded with it sees diamonds_plus
    # (and what follows it) stale in both curated batches, and nothing before it
    settings = tmp_path / "curation.yaml"
    settings.write_text("diamonds_plus:\n  gate: 90\n")
    due = {item["batch"]: item for item in _schedule_in_a_fresh_process(settings)}
    assert set(due) == {first, second, "never-curated-000"}
    for batch in (first, second):
        assert due[batch]["why"].startswith("stale: diamonds_plus (2026.11.22+")
        assert due[batch]["assets"] == [
            "diamonds_plus",
            "diamonds_plus_rejected",
            "diamonds_plus_report",
            "global_kernel_state",
            "kernel_state",
        ]
    assert len({item["run_key"] for item in due.values()}) == 3

    rotate(root, Budget(1), lambda message: None, force=True, limit=1)
    assert first not in {r.partition_key for r in evaluate()}

    weekly = weekly_retrain_schedule(
        dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 22, 4, tzinfo=UTC)
        )
    )
    assert weekly.run_key == "weekly:2026-11-22"
