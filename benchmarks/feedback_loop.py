"""Benchmark the feedback loop (issue 7).

1. Feedback store writes: the same number of interactions recorded by 1, 2 and 4
   concurrent writer processes (one transaction per interaction, as the CLI records);
   interactions/s and how many were lost (must be 0).
2. Regeneration on a copy of a workspace that has a trained model (run `make demo`
   first): `synthetic_spans` with its best checkpoint, then the curation job on the batch
   it lands; spans generated per minute, near-duplicates dropped, share passing the gate.

    python benchmarks/feedback_loop.py --records 2000 --synthetic 24
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import run_stamp, save_report

WRITER = r"""
import sys
from pathlib import Path
from training_assets.feedback.store import FeedbackStore, Interaction
path, writer, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
sys.stdin.readline()  # start together
with FeedbackStore.open(path) as store:
    for i in range(count):
        store.record(Interaction(f"question {writer}-{i}", "an answer " * 20, "m1", "positive",
                                 4.0, intent="howto", session=writer))
"""


def write_throughput(records: int, writers: int) -> dict:
    from training_assets.feedback.store import FeedbackStore

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feedback.db"
        FeedbackStore.open(path, create=True).close()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(path), f"w{n}", str(records // writers)],
                stdin=subprocess.PIPE,
                text=True,
            )
            for n in range(writers)
        ]
        time.sleep(3)  # imports done before the clock starts
        started = time.perf_counter()
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        codes = [proc.wait() for proc in procs]
        seconds = time.perf_counter() - started
        with FeedbackStore.open(path) as store:
            stored = store.count()
    expected = writers * (records // writers)
    return {
        "writers": writers,
        "records": expected,
        "seconds": round(seconds, 2),
        "per_second": round(expected / seconds, 1),
        "lost": expected - stored,
        "failed_writers": sum(1 for c in codes if c),
    }


def regeneration(root: Path, cap: int) -> dict:
    import dagster as dg

    from training_assets.definitions import build_definitions
    from training_assets.feedback.assets import synthetic_spans
    from training_assets.kernel.assets import global_kernel_state
    from training_assets.launch import materialize_batches

    instance = dg.DagsterInstance.get()
    defs = build_definitions(str(root))
    before = set(instance.get_dynamic_partitions("batches"))
    result = dg.materialize(
        [global_kernel_state, synthetic_spans],
        instance=instance,
        resources=defs.resources,
        run_config={"ops": {"synthetic_spans": {"config": {"cap": cap}}}},
    )
    metadata = {
        k: v.value
        for k, v in result.asset_materializations_for_node("synthetic_spans")[0].metadata.items()
    }
    new = sorted(set(instance.get_dynamic_partitions("batches")) - before)
    passed = 0
    for key, _, ok in materialize_batches(new):
        if ok:
            passed += json.loads((root / "diamonds_plus_report" / f"{key}.json").read_text())[
                "diamonds_plus"
            ]
    kept = metadata["kept"]
    return {
        "generated": metadata["generated"],
        "generation_seconds": metadata["generation_seconds"],
        "spans_per_minute": metadata["spans_per_minute"],
        "near_duplicates_dropped": metadata["near_duplicates_dropped"],
        "unfinished_dropped": metadata["unfinished_dropped"],
        "kept": kept,
        "passed_gate": passed,
        "share_passing_gate": round(passed / kept, 3) if kept else None,
        "domains": metadata["domains"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--synthetic", type=int, default=24, help="0: skip regeneration")
    args = parser.parse_args()
    from training_assets.settings import ensure_dagster_home, ensure_workspace

    # Regeneration runs on a copy of the workspace and instance, which it then adds a batch to.
    scratch = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    shutil.copytree(ensure_workspace(), scratch / "workspace", symlinks=True)
    shutil.copytree(ensure_dagster_home(), scratch / "dagster_home", symlinks=True)
    os.environ.update(
        TRAINING_WORKSPACE=str(scratch / "workspace"), DAGSTER_HOME=str(scratch / "dagster_home")
    )
    root = scratch / "workspace"
    report = {
        **run_stamp(),
        "writes": [write_throughput(args.records, n) for n in (1, 2, 4)],
    }
    print("| writers | interactions | interactions/s | lost |", file=sys.stderr)
    print("|---|---|---|---|", file=sys.stderr)
    for row in report["writes"]:
        print(
            f"| {row['writers']} | {row['records']} | {row['per_second']} | {row['lost']} |",
            file=sys.stderr,
        )
    if args.synthetic and not (root / "best_checkpoint.json").exists():
        print("no trained model in the workspace: run `make demo` first; regeneration skipped",
              file=sys.stderr)  # fmt: skip
    elif args.synthetic:
        report["regeneration"] = regeneration(root, args.synthetic)
        print(json.dumps(report["regeneration"], indent=2), file=sys.stderr)
    out = save_report(report, f"feedback_loop-{report['date']}")
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
