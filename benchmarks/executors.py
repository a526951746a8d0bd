"""One batch through Celery workers against Dagster's default executor (issue 8).

One workspace and instance, one ShareGPT batch, its embeddings cached by a warm-up run,
so the runs differ only in where the steps execute. Each run is what a user types,
`training-assets materialize --partition KEY`, alternating between the default (the
CLI runs a batch of this size in process) and TRAINING_EXECUTOR=celery with a local
cluster (`training-assets worker --concurrency 2`, kombu's filesystem broker).

    python benchmarks/executors.py --spans 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(REPO))
from data_half import prepare_base_tokenizer, write_input  # noqa: E402
from report import run_stamp, save_report  # noqa: E402

from tests.processes import stop_process_group  # noqa: E402


def cli(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training_assets.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        **kwargs,
    )


def timed_materialize(key: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    cli(["materialize", "--partition", key], env)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="celery worker concurrency")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    root, home = base / "workspace", base / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "TRAINING_WORKSPACE": str(root), "DAGSTER_HOME": str(home)}
    env.pop("TRAINING_EXECUTOR", None)
    celery_env = {**env, "TRAINING_EXECUTOR": "celery"}
    source = base / "sharegpt.jsonl"
    write_input(source, args.spans)
    prepare_base_tokenizer(root)
    [key] = cli(["ingest", str(source)], env).stdout.split()
    warm_up = timed_materialize(key, env)

    log = (base / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "training_assets.cli", "worker"]
        + ["--concurrency", str(args.workers), "--loglevel", "WARNING"],
        env=celery_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    seconds: dict[str, list[float]] = {"default": [], "celery": []}
    try:
        timed_materialize(key, celery_env)  # the workers' first imports, not timed
        for _ in range(args.repeats):
            seconds["default"].append(timed_materialize(key, env))
            seconds["celery"].append(timed_materialize(key, celery_env))
    finally:
        stop_process_group(worker)
        log.close()
    means = {name: statistics.mean(values) for name, values in seconds.items()}
    report = {
        **run_stamp(),
        "spans": args.spans,
        "repeats": args.repeats,
        "celery_concurrency": args.workers,
        "warm_up_seconds": round(warm_up, 2),
        "seconds": {k: [round(v, 2) for v in vs] for k, vs in seconds.items()},
        "mean_seconds": {k: round(v, 2) for k, v in means.items()},
        "celery_over_default": round(means["celery"] / means["default"], 3),
    }
    save_report(report, f"executors-{report['date']}")
    print("| spans | runs each | default (in process) | Celery, 2 workers | Celery / default |")
    print("|---|---|---|---|---|")
    print(
        f"| {args.spans} | {args.repeats} | {means['default']:.2f} s | {means['celery']:.2f} s "
        f"| {report['celery_over_default']} |"
    )
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
