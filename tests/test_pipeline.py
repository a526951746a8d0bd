"""The curation job on a real Dagster instance: checks pass, re-runs hit the cache, search answers."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.conftest import span, write_lines
from training_assets.definitions import build_definitions
from training_assets.embedding.encoder import Embedder
from training_assets.indexing.search import search
from training_assets.ingestion.landing import land_file
from training_assets.partitions import batch_partitions

TOPICS = [
    (
        "How do I reverse a list in Python?",
        "Use my_list[::-1] or my_list.reverse() to reverse it in place.",
    ),
    (
        "What is the best way to bake sourdough bread?",
        "Feed the starter, autolyse the dough, stretch and fold, then bake at 250°C.",
    ),
    (
        "How can I speed up a slow SQL query?",
        "Add an index on the filtered columns and check the plan with EXPLAIN ANALYZE.",
    ),
    (
        "Explain photosynthesis simply",
        "Plants turn sunlight, water and carbon dioxide into sugar and oxygen.",
    ),
]


def materialize(
    defs: dg.Definitions, instance: dg.DagsterInstance, key: str
) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def("curation_job").execute_in_process(
        partition_key=key, instance=instance
    )


@pytest.fixture
def landed_batch(workspace: Path, tmp_path: Path):
    lines = [span(i, this=q, if_ok=a) for i, (q, a) in enumerate(TOPICS * 3)]
    lines[5]["id"] = "span-0"  # a duplicate id
    lines.append("{broken")
    path = write_lines(tmp_path / "spans.jsonl", lines)
    landed, _ = land_file(path, workspace / "landing")
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    return instance, landed


def test_curation_job_end_to_end(workspace: Path, landed_batch):
    instance, landed = landed_batch
    defs = build_definitions(str(workspace))
    (key,) = landed.keys
    result = materialize(defs, instance, key)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "every_line_accounted_for": True,
        "ids_unique": True,
        "agrees_with_fp32": True,  # bf16 on CPUs with bf16 units; fp32 passes as itself
        "span_index_recall": True,
    }

    diamonds = pl.read_parquet(workspace / "diamond_spans" / f"{key}.parquet")
    quarantine = pl.read_parquet(workspace / "span_quarantine" / f"{key}.parquet")
    assert diamonds.height == 11 and sorted(quarantine["category"]) == ["duplicate", "invalid"]
    enriched = pl.read_parquet(workspace / "enriched_spans" / f"{key}.parquet")
    assert enriched["complexity"].is_between(0, 100).all()
    embeddings = pl.read_parquet(workspace / "span_embeddings" / f"{key}.parquet")
    assert embeddings.schema["combined_vec"] == pl.Array(pl.Float32, 384)

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("diamond_spans"), asset_partitions=[key]),
        limit=1,
    ).records
    metadata = records[0].asset_materialization.metadata
    assert (metadata["valid"].value, metadata["invalid"].value, metadata["duplicate"].value) == (
        11,
        1,
        1,
    )

    again = materialize(defs, instance, key)
    embed_event = [
        e
        for e in again.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("span_embeddings")
    ][0]
    assert embed_event.materialization.metadata["encoded"].value == 0

    embedder = Embedder(
        "bundled:all-MiniLM-L6-v2", workspace / "embedding_cache" / "vectors.sqlite"
    )
    hits = search(workspace, embedder, "bread baking with a starter", k=3)
    assert hits[0].question == TOPICS[1][0]
    hybrid = search(workspace, embedder, "slow SQL index", k=3, mode="hybrid")
    assert hybrid[0].question == TOPICS[2][0]


def test_unknown_partition_fails_with_a_clear_message(workspace: Path):
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(batch_partitions.name, ["ghost-0123456789ab-000"])
    defs = build_definitions(str(workspace))
    result = defs.resolve_job_def("curation_job").execute_in_process(
        partition_key="ghost-0123456789ab-000", instance=instance, raise_on_error=False
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "no landed file with hash 0123456789ab" in str(failure.step_failure_data.error)


def test_loading_the_code_location_does_not_import_torch(workspace: Path):
    """Every step process of a big batch loads the definitions: torch only where it is used."""
    import subprocess
    import sys

    probe = (
        "import sys, training_assets.definitions; "
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'sentence_transformers') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
