"""Postgres against SQLite instance storage for the same curation run (issue 8).

One workspace, one ShareGPT batch, its embeddings cached by a warm-up run, so the runs
differ only in where Dagster writes runs and events. The curation job runs `--repeats`
times on each instance, alternating, in this process. Needs the Debian PostgreSQL
package (a throwaway server is started in /tmp).

    python benchmarks/instance_storage.py --spans 500 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(REPO))
from data_half import prepare_base_tokenizer, write_input  # noqa: E402
from report import run_stamp, save_report  # noqa: E402

from tests.postgres_server import postgres_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-instance-"))
    root = base / "workspace"
    os.environ["TRAINING_WORKSPACE"] = str(root)
    homes = {"sqlite": base / "home_sqlite", "postgres": base / "home_postgres"}
    homes["sqlite"].mkdir()
    os.environ["DAGSTER_HOME"] = str(homes["sqlite"])  # the instances are built explicitly
    (homes["sqlite"] / "dagster.yaml").write_text(
        (REPO / "dagster_home" / "dagster.yaml").read_text()
    )
    homes["postgres"].mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.postgres.yaml", homes["postgres"] / "dagster.yaml")
    source = base / "sharegpt.jsonl"
    write_input(source, args.spans)
    prepare_base_tokenizer(root)

    import dagster as dg

    from training_assets.definitions import build_definitions
    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    landed, _ = land_file(source, root / "landing")
    [key] = landed.keys
    job = build_definitions(str(root)).resolve_job_def("curation_job")
    seconds: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    with postgres_server() as settings:
        os.environ.update(settings)
        instances = {
            name: dg.DagsterInstance.from_config(str(home)) for name, home in homes.items()
        }
        for instance in instances.values():
            instance.add_dynamic_partitions(batch_partitions.name, [key])
        assert job.execute_in_process(partition_key=key, instance=instances["sqlite"]).success
        for _ in range(args.repeats):
            for name, instance in instances.items():
                started = time.perf_counter()
                assert job.execute_in_process(partition_key=key, instance=instance).success
                seconds[name].append(time.perf_counter() - started)
        for instance in instances.values():
            instance.dispose()
    means = {name: statistics.mean(values) for name, values in seconds.items()}
    report = {
        **run_stamp(),
        "spans": landed.spans,
        "repeats": args.repeats,
        "seconds": {k: [round(v, 2) for v in vs] for k, vs in seconds.items()},
        "mean_seconds": {k: round(v, 2) for k, v in means.items()},
        "postgres_over_sqlite": round(means["postgres"] / means["sqlite"], 3),
    }
    save_report(report, f"instance_storage-{report['date']}")
    print("| spans | runs each | SQLite | Postgres | Postgres / SQLite |")
    print("|---|---|---|---|---|")
    print(
        f"| {landed.spans} | {args.repeats} | {means['sqlite']:.2f} s | {means['postgres']:.2f} s "
        f"| {report['postgres_over_sqlite']} |"
    )
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
