"""Table assets on object storage (TRAINING_TABLES_ROOT as a UPath), here S3 served by a
local moto server: the curation job and the training dataset write their tables there
(s3fs) and read them back from there (polars' native S3 reader), the cross-batch readers
(indexes, neighbours, the kernel ledger, the dataset) included; rotation, which purges
local files, stops with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from tests.conftest import span, write_lines
from tests.processes import free_port
from training_assets.definitions import build_definitions
from training_assets.ingestion.landing import land_file
from training_assets.kernel.files import read_kernel
from training_assets.partitions import batch_partitions
from training_assets.training.assets import training_dataset

BUCKET = "s3://training-tables/workspace"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    """A local S3 endpoint (moto) with one bucket; an s3fs filesystem pointed at it."""
    s3fs = pytest.importorskip("s3fs")
    server_module = pytest.importorskip("moto.server")
    port = free_port()
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


def test_curation_and_the_dataset_run_with_tables_in_object_storage(
    workspace: Path, tmp_path: Path, monkeypatch, s3
):
    monkeypatch.setenv("TRAINING_TABLES_ROOT", BUCKET)
    instance = dg.DagsterInstance.get()
    source = write_lines(
        tmp_path / "spans.jsonl",
        [
            span(i, this=f"How do I parse date format number {i} in Go, case {i * 7}?")
            for i in range(12)
        ]
        + [b"{not json"],
    )
    landed, _ = land_file(source, workspace / "landing")
    [key] = landed.keys
    instance.add_dynamic_partitions(batch_partitions.name, [key])
    defs = build_definitions(str(workspace))
    curation = defs.resolve_job_def("curation_job")
    assert curation.execute_in_process(partition_key=key, instance=instance).success

    tables = (
        "raw_spans",
        "diamond_spans",
        "span_quarantine",
        "span_embeddings",
        "enriched_spans",
        "diamonds_plus",
        "diamonds_plus_rejected",
    )
    for asset in tables:
        assert s3.exists(f"training-tables/workspace/{asset}/{key}.parquet"), asset
        assert not (workspace / asset).exists()
    with s3.open(f"training-tables/workspace/span_quarantine/{key}.parquet", "rb") as handle:
        assert pl.read_parquet(handle).height == 1  # every line accounted for
    with s3.open(f"training-tables/workspace/diamonds_plus/{key}.parquet", "rb") as handle:
        kept = pl.read_parquet(handle).height
    # the cross-batch readers found the tables in the bucket: the index, the ledger
    manifest = json.loads((workspace / "span_index" / "manifest.json").read_text())
    assert list(manifest["batches"]) == [key], manifest
    kernel = read_kernel(workspace, key)
    assert kernel["statistics"]["spans"]["diamonds_plus"] == kept
    assert kernel["statistics"]["spans"]["quarantined"] == 1

    from training_assets.indexing.search import search

    [hit] = search(
        workspace, None, "parse date format 5", 1, "keyword", defs.resources["workspace"].tables
    )
    assert hit.question.startswith("How do I parse date format number")  # text from the bucket

    dataset = dg.materialize(
        [training_dataset],
        instance=instance,
        resources=defs.resources,
        selection=[training_dataset],
    )
    assert dataset.success
    with s3.open("training-tables/workspace/training_dataset.parquet", "rb") as handle:
        assert pl.read_parquet(handle).height == kept

    rotation = defs.resolve_job_def("rotation_job")
    rotated = rotation.execute_in_process(instance=instance, raise_on_error=False)
    assert not rotated.success
    [failure] = [e for e in rotated.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "rotation_job works on local table files" in message and BUCKET in message
