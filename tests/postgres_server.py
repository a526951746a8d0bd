"""A throwaway PostgreSQL server from the Debian package, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.processes import free_port

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
PG_ENV = (
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD",
    "DAGSTER_PG_DB",
)


def _as_postgres(args: list[str]) -> list[str]:
    # the server refuses to run as root; CI and this machine run tests as root
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def postgres_server(db_name: str = "dagster") -> Iterator[dict[str, str]]:
    """Start a server on a free port with one database; yield the DAGSTER_PG_* settings."""
    if not PG_BIN:
        raise FileNotFoundError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    # directly under /tmp: the postgres user cannot enter pytest's root-only folders
    folder = Path(tempfile.mkdtemp(prefix="training-assets-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port, bin_dir = folder / "data", free_port(), Path(PG_BIN[-1])

    def run(*args: str) -> None:
        subprocess.run(_as_postgres([str(bin_dir / args[0]), *args[1:]]), check=True,
                       capture_output=True)  # fmt: skip

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        run("pg_ctl", "-D", str(data), "-o", options, "-w", "start", "-l", str(folder / "log"))
        run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db_name)
        yield dict(
            zip(
                PG_ENV,
                ("127.0.0.1", str(port), "postgres", "unused-with-trust", db_name),
                strict=True,
            )
        )
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_postgres(
                    [str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "stop", "-m", "fast"]
                ),
                capture_output=True,
            )
        shutil.rmtree(folder, ignore_errors=True)
