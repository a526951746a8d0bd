"""The Dagster instance on a real PostgreSQL server (the Debian package), started for the
test in a temporary folder: a batch's curation run recorded in Postgres."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
from postgres_server import PG_BIN, postgres_server

from tests.conftest import land_and_curate, span, write_lines

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def postgres_settings():
    if not PG_BIN:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    with postgres_server() as settings:
        yield settings


def test_a_curation_run_on_a_postgres_instance(
    workspace: Path, tmp_path: Path, monkeypatch, postgres_settings: dict[str, str]
):
    home = Path(os.environ["DAGSTER_HOME"])
    shutil.copy(REPO / "dagster_home" / "dagster.postgres.yaml", home / "dagster.yaml")
    for name, value in postgres_settings.items():
        monkeypatch.setenv(name, value)

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        source = write_lines(tmp_path / "spans.jsonl", [span(i) for i in range(4)])
        key = land_and_curate(workspace, source, instance)
        [run] = instance.get_run_records(dg.RunsFilter(job_name="curation_job"))
        assert run.dagster_run.tags["dagster/partition"] == key
        event = instance.get_latest_materialization_event(dg.AssetKey("diamonds_plus"))
        assert event.asset_materialization.partition == key
    assert not list(home.glob("**/*.db"))  # nothing went to SQLite
