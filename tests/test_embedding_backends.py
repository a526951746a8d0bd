"""Embedding backends: bf16 agrees with fp32 on real text, vectors of two backends never
share a cache entry or an index, and a backend that disagrees fails the run before the
index (the blocking `agrees_with_fp32` check)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from resources import EmbedderResource
from tests.conftest import span, write_lines
from training_assets.cpu import cpu_has_bf16
from training_assets.embedding import agreement as agreement_module
from training_assets.embedding.agreement import agreement, neighbour_recall, sample_texts
from training_assets.embedding.backends import REFERENCE, BackendError, resolve_backend
from training_assets.embedding.encoder import BUNDLED_MODEL, Embedder
from training_assets.indexing.hnsw import HnswParams
from training_assets.indexing.sync import sync_span_index

TEXTS = [
    "How do I reverse a list in Python?",
    "Use reversed(items) or items[::-1]; items.reverse() works in place.",
    "Write a haiku about autumn leaves falling on a quiet pond.",
    "Explain the difference between TCP and UDP for a game server.",
    "¿Cómo se calcula la derivada de x al cuadrado?",
    "SELECT name, COUNT(*) FROM orders GROUP BY name HAVING COUNT(*) > 3;",
    "My docker container exits with code 137 after a few minutes, why?",
    "Summarise the causes of the French Revolution in three sentences.",
    "What is a good warm-up before running 10 km?",
    "Translate 'the cat sleeps on the warm roof' into German.",
    "In Rust, why does the borrow checker reject two mutable references?",
    "Give me a recipe for a vegan chocolate cake without a blender.",
]


def test_backends_resolve_for_the_device_and_refuse_what_it_cannot_run():
    assert resolve_backend("auto", "cpu") == ("torch-bf16" if cpu_has_bf16() else REFERENCE)
    assert resolve_backend("auto", "cuda:0") == "torch-fp16"
    assert resolve_backend("torch-fp32", "cpu") == REFERENCE
    with pytest.raises(BackendError, match="CUDA only"):
        resolve_backend("torch-fp16", "cpu")
    with pytest.raises(BackendError, match="TRAINING_EMBED_BACKEND must be one of"):
        resolve_backend("onnx-int8", "cpu")


def test_bf16_agrees_with_fp32_and_the_two_are_cached_apart(tmp_path: Path):
    cache = tmp_path / "vectors.sqlite"
    bf16 = Embedder(BUNDLED_MODEL, cache, backend="torch-bf16")
    fp32 = Embedder(BUNDLED_MODEL, cache, backend=REFERENCE)
    assert bf16.fingerprint != fp32.fingerprint and bf16.fingerprint.endswith("|torch-bf16")
    candidate, _ = bf16.encode(TEXTS)
    reference, stats = fp32.encode(TEXTS)
    assert stats.cache_hits == 0  # fp32 vectors are not bf16 ones from the same cache
    assert candidate.dtype == np.float32
    assert np.allclose(np.linalg.norm(candidate, axis=1), 1.0, atol=1e-6)
    found = agreement(candidate, reference)
    assert found.passed() and found.mean_cosine > 0.999 and found.recall_at_10 >= 0.98
    assert not np.array_equal(candidate, reference)  # it did run in bf16


def test_agreement_measures_what_it_says():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    same = agreement(vectors, vectors)
    assert same.mean_cosine == pytest.approx(1.0) and same.recall_at_10 == 1.0
    noise = vectors + rng.standard_normal(vectors.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    worse = agreement(noise, vectors)
    assert not worse.passed() and worse.mean_cosine < 0.9 and worse.recall_at_10 < 0.9
    assert neighbour_recall(vectors[:1], vectors[:1]) == 1.0
    texts = [f"text {i}" for i in range(100)] * 2
    assert (
        sample_texts(texts) == sample_texts(list(reversed(texts)))
        and len(sample_texts(texts)) == 64
    )


def test_the_index_leaves_out_batches_of_another_embedder(tmp_path: Path):
    tables = tmp_path / "span_embeddings"
    tables.mkdir()
    rng = np.random.default_rng(1)
    for batch, embedder in (("a-000", "model|torch-bf16"), ("b-000", "model")):
        vectors = rng.standard_normal((5, 8)).astype(np.float32)
        pl.DataFrame(
            {
                "id": [f"{batch}-{i}" for i in range(5)],
                "combined_vec": pl.Series(vectors, dtype=pl.Array(pl.Float32, 8)),
                "embedder": [embedder] * 5,
            }
        ).write_parquet(tables / f"{batch}.parquet")
    index_dir = tmp_path / "span_index"
    synced = sync_span_index(index_dir, tables, HnswParams(), embedder="model|torch-bf16")
    assert (synced.batches, synced.added, synced.other_embedder) == (1, 5, ("b-000",))
    back = sync_span_index(index_dir, tables, HnswParams(), embedder="model")
    assert (back.batches, back.added, back.removed, back.other_embedder) == (1, 5, 5, ("a-000",))


def _curate(workspace: Path, tmp_path: Path, backend: str):
    from training_assets.definitions import build_definitions
    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    source = write_lines(tmp_path / "spans.jsonl", [span(i, this=TEXTS[i]) for i in range(10)])
    landed, _ = land_file(source, workspace / "landing")
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    defs = build_definitions(str(workspace))
    default = defs.resources["embedder"]
    embedder = EmbedderResource(model=default.model, cache_path=default.cache_path, backend=backend)
    return (
        defs.resolve_job_def("curation_job").execute_in_process(
            partition_key=landed.keys[0],
            instance=instance,
            resources={"embedder": embedder},
            raise_on_error=False,
        ),
        landed.keys[0],
    )


def test_a_backend_that_disagrees_fails_the_run_before_the_index(
    workspace: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setattr(agreement_module, "MIN_MEAN_COSINE", 1.000001)  # bf16 can never pass
    result, key = _curate(workspace, tmp_path, "torch-bf16")
    assert not result.success
    [check] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        and e.event_specific_data.check_name == "agrees_with_fp32"
    ]
    assert not check.passed and check.metadata["mean_cosine"].value > 0.99
    assert not (workspace / "span_index" / "manifest.json").exists()
    assert (workspace / "span_embeddings" / f"{key}.parquet").exists()
