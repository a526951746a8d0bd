"""Benchmark the progressive loop: a stream of batches through a workspace with a small budget.

Real ShareGPT conversations are cut into `--batches` files that land one after the other.
Each is curated (the curation job, kernel state included); then `disk_rotation_sensor` is
evaluated and, when it asks, `rotation_job` runs, as the daemon would. A thread samples
the workspace's size every 0.25 s. Goal (issue 6): the workspace never exceeds the budget
plus one batch.

    python benchmarks/rotation_stream.py --batches 10 --spans-per-batch 2000 --budget 200MB
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from data_half import prepare_base_tokenizer, write_input  # noqa: E402
from report import run_stamp, save_report  # noqa: E402


class UsageSampler:
    def __init__(self, root: Path, interval: float = 0.25) -> None:
        from training_assets.rotation.usage import workspace_usage

        self._usage = workspace_usage
        self.root = root
        self.phase = "curation"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError):  # a file went away mid-walk
                total = self._usage(self.root).total
                self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), total)
            self._stop.wait(interval)

    @property
    def peak(self) -> int:
        return max(self.peaks.values(), default=0)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def split_input(source: Path, parts: int, target_dir: Path) -> list[Path]:
    """Cut a JSONL of conversations into `parts` files of about equal line counts."""
    lines = source.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    files = []
    for i in range(parts):
        path = target_dir / f"stream_{i:03d}.jsonl"
        path.write_bytes(b"".join(lines[i * size : (i + 1) * size]))
        files.append(path)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--spans-per-batch", type=int, default=2000)
    parser.add_argument("--budget", default="200MB")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-rotation-"))
    root = base / "workspace"
    os.environ.update(
        TRAINING_WORKSPACE=str(root),
        DAGSTER_HOME=str(base / "dagster_home"),
        TRAINING_WORKSPACE_BUDGET=args.budget,
    )
    (base / "dagster_home").mkdir()
    (base / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    source = base / "sharegpt.jsonl"
    write_input(source, args.batches * args.spans_per_batch)
    files = split_input(source, args.batches, base)
    prepare_base_tokenizer(root)

    import dagster as dg

    from sensors.disk_rotation_sensor import disk_rotation_sensor
    from training_assets.definitions import build_definitions
    from training_assets.ingestion.landing import land_file
    from training_assets.kernel.files import read_kernel
    from training_assets.launch import materialize_batches, run_job
    from training_assets.partitions import batch_partitions
    from training_assets.rotation.usage import Budget, workspace_usage

    budget = Budget.from_env()
    instance = dg.DagsterInstance.get()
    resources = build_definitions(str(root)).resources
    sampler = UsageSampler(root)
    started = time.perf_counter()
    rows, footprints, rotations, keys = [], {}, [], []
    for number, path in enumerate(files, 1):
        before = workspace_usage(root).total
        landed, _ = land_file(path, root / "landing", batch_size=10 * args.spans_per_batch)
        instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
        [(key, run_id, ok)] = materialize_batches(landed.keys)
        if not ok:
            raise RuntimeError(f"batch {key} failed (run {run_id})")
        keys.append(key)
        after_curation = workspace_usage(root).total
        footprints[key] = after_curation - before  # what one batch adds, all components
        context = dg.build_sensor_context(instance=instance, resources=resources, cursor=None)
        decision = disk_rotation_sensor(context)
        rotated_seconds = None
        if isinstance(decision, dg.SensorResult) and decision.run_requests:
            began = time.perf_counter()
            sampler.phase = "rotation"
            _, ok = run_job("rotation_job", {})
            sampler.phase = "curation"
            rotated_seconds = time.perf_counter() - began
            if not ok:
                raise RuntimeError("rotation_job failed")
            rotations.append(rotated_seconds)
        rows.append(
            {
                "batch": number,
                "spans": landed.spans,
                "after_curation_mb": round(after_curation / 1e6, 1),
                "after_rotation_mb": round(workspace_usage(root).total / 1e6, 1),
                "rotation_seconds": round(rotated_seconds, 1) if rotated_seconds else None,
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    sampler.stop()

    kernels = {key: read_kernel(root, key) for key in keys}
    archived = {key: k["archive"] for key, k in kernels.items() if k and "archive" in k}
    archive_bytes = sum(a["bytes"] for a in archived.values())
    purged_bytes = 0  # what each rotation recorded on batch_archive[batch]
    for key in archived:
        event = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("batch_archive"), asset_partitions=[key]),
            limit=1,
        ).records[0]
        purged_bytes += event.asset_materialization.metadata["bytes_freed"].value
    ledger_bytes = sum(
        len(gzip.decompress((root / a["path"]).read_bytes())) for a in archived.values()
    )
    kernel_sizes = [(root / "kernel" / f"{key}.json").stat().st_size for key in keys]
    largest_batch = max(footprints.values())
    report = {
        **run_stamp(),
        "budget_bytes": budget.bytes,
        "threshold": budget.threshold,
        "target": budget.target,
        "batches": len(keys),
        "spans": sum(r["spans"] for r in rows),
        "seconds": round(time.perf_counter() - started, 1),
        "peak_workspace_bytes": sampler.peak,
        "peak_workspace_bytes_by_phase": sampler.peaks,
        "largest_batch_bytes": largest_batch,
        "peak_within_budget_plus_one_batch": sampler.peak <= budget.bytes + largest_batch,
        "rotations": len(rotations),
        "batches_archived": len(archived),
        "archive_over_purged_files": round(archive_bytes / purged_bytes, 3)
        if purged_bytes
        else None,
        "archive_over_ledger_jsonl": round(archive_bytes / ledger_bytes, 3)
        if ledger_bytes
        else None,
        "kernel_bytes_per_batch": round(sum(kernel_sizes) / len(kernel_sizes)),
        "global_kernel_bytes": (root / "kernel" / "global.json").stat().st_size,
        "rotation_seconds_per_batch": round(sum(rotations) / max(len(archived), 1), 2),
        "final_components_mb": {
            k: round(v / 1e6, 1) for k, v in workspace_usage(root).components.items()
        },
        "rows": rows,
    }
    out = save_report(report, f"rotation_stream-{report['date']}")
    print(
        "| budget | batches | spans | peak workspace | largest batch | peak ≤ budget + batch "
        "| rotations | archived | archive / purged files | archive / ledger JSONL "
        "| kernel per batch | rotation s per batch |"
    )
    print("|" + "---|" * 12)
    print(
        f"| {budget.bytes / 1e6:.0f} MB | {report['batches']} | {report['spans']} "
        f"| {sampler.peak / 1e6:.1f} MB | {largest_batch / 1e6:.1f} MB "
        f"| {report['peak_within_budget_plus_one_batch']} | {len(rotations)} "
        f"| {len(archived)} | {report['archive_over_purged_files']} "
        f"| {report['archive_over_ledger_jsonl']} | {report['kernel_bytes_per_batch'] / 1e3:.1f} KB "
        f"| {report['rotation_seconds_per_batch']} |"
    )
    print(f"results: {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
