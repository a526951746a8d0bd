"""Table assets on object storage (TRAINING_TABLES_ROOT as a UPath), here S3 served by a
local moto server: the tables up to enriched_spans are written there (s3fs) and read back
from there (polars' native S3 reader); the first asset that needs local table files
stops with a clear error."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.conftest import span, write_lines
from training_assets.definitions import build_resources
from training_assets.embedding.assets import span_embeddings
from training_assets.enrichment.assets import enriched_spans
from training_assets.indexing.assets import span_index
from training_assets.ingestion.assets import raw_spans
from training_assets.ingestion.landing import land_file
from training_assets.partitions import batch_partitions
from training_assets.validation.assets import validated_spans

BUCKET = "s3://training-tables/workspace"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    """A local S3 endpoint (moto) with one bucket; an s3fs filesystem pointed at it."""
    s3fs = pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    from tests.postgres_server import _free_port

    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,  # s3fs/botocore and polars both read it
        "AWS_ALLOW_HTTP": "true",  # polars' object_store refuses plain http otherwise
    }.items():
        monkeypatch.setenv(name, value)
    filesystem = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    filesystem.mkdir("training-tables")
    try:
        yield filesystem
    finally:
        server.stop()


def test_tables_up_to_enrichment_live_in_object_storage(
    workspace: Path, tmp_path: Path, monkeypatch, s3
):
    monkeypatch.setenv("TRAINING_TABLES_ROOT", BUCKET)
    instance = dg.DagsterInstance.get()
    source = write_lines(
        tmp_path / "spans.jsonl",
        [span(i, this=f"How do I parse date format number {i} in Go?") for i in range(12)]
        + [b"{not json"],
    )
    landed, _ = land_file(source, workspace / "landing")
    [key] = landed.keys
    instance.add_dynamic_partitions(batch_partitions.name, [key])
    resources = build_resources(str(workspace))
    data_half = [raw_spans, validated_spans, span_embeddings, enriched_spans]
    result = dg.materialize(data_half, partition_key=key, instance=instance, resources=resources)
    assert result.success

    for asset in (
        "raw_spans",
        "diamond_spans",
        "span_quarantine",
        "span_embeddings",
        "enriched_spans",
    ):
        assert s3.exists(f"training-tables/workspace/{asset}/{key}.parquet"), asset
        assert not (workspace / asset).exists()
    with s3.open(f"training-tables/workspace/enriched_spans/{key}.parquet", "rb") as handle:
        enriched = pl.read_parquet(handle)
    with s3.open(f"training-tables/workspace/span_quarantine/{key}.parquet", "rb") as handle:
        quarantine = pl.read_parquet(handle)
    assert enriched.height == 12 and quarantine.height == 1  # every line accounted for

    indexed = dg.materialize(
        [*data_half, span_index],
        selection=[span_index],
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )
    assert not indexed.success
    [failure] = [e for e in indexed.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "span_index reads span_embeddings files directly" in message
    assert BUCKET in message
