"""The Dagster instance on a real PostgreSQL server (the Debian package), started for the
test in a temporary folder: a batch's curation run recorded in Postgres."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import span, write_lines

REPO = Path(__file__).resolve().parents[1]
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    # the server refuses to run as root; CI and this machine run tests as root
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def postgres_server():
    if not PG_BIN:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    # directly under /tmp: the postgres user cannot enter pytest's root-only folders
    folder = Path(tempfile.mkdtemp(prefix="training-assets-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", _free_port()
    bin_dir = Path(PG_BIN[-1])
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    subprocess.run(
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "start",
                      "-l", str(folder / "server.log")]),
        check=True,
        capture_output=True,
    )  # fmt: skip
    subprocess.run(
        _as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                      "-U", "postgres", "dagster"]),
        check=True,
        capture_output=True,
    )  # fmt: skip
    try:
        yield port
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "stop", "-m", "fast"]),
            capture_output=True,
        )
        shutil.rmtree(folder, ignore_errors=True)


def test_a_curation_run_on_a_postgres_instance(
    workspace: Path, tmp_path: Path, monkeypatch, postgres_server: int
):
    from training_assets.definitions import build_definitions
    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    home = Path(os.environ["DAGSTER_HOME"])
    shutil.copy(REPO / "dagster_home" / "dagster.postgres.yaml", home / "dagster.yaml")
    for name, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(postgres_server),
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": "dagster",
    }.items():
        monkeypatch.setenv(name, value)

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        source = write_lines(tmp_path / "spans.jsonl", [span(i) for i in range(4)])
        landed, _ = land_file(source, workspace / "landing")
        instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
        [key] = landed.keys
        result = (
            build_definitions(str(workspace))
            .resolve_job_def("curation_job")
            .execute_in_process(partition_key=key, instance=instance)
        )
        assert result.success
        [run] = instance.get_run_records(dg.RunsFilter(job_name="curation_job"))
        assert run.dagster_run.tags["dagster/partition"] == key
        event = instance.get_latest_materialization_event(dg.AssetKey("diamonds_plus"))
        assert event.asset_materialization.partition == key
    assert not list(home.glob("**/*.db"))  # nothing went to SQLite
