"""The workspace: the one folder (TRAINING_WORKSPACE, default ./workspace) the assets write."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from training_assets.ingestion.landing import DEFAULT_BATCH_SIZE
from training_assets.ingestion.records import DEFAULT_MAX_RECORD_BYTES


def default_workspace_root() -> str:
    return str(Path(os.environ.get("TRAINING_WORKSPACE", "./workspace")).resolve())


class WorkspaceResource(dg.ConfigurableResource):
    """Paths inside the workspace, and the ingest settings shared by CLI and sensor."""

    root: str
    # where the Parquet IO manager keeps table assets: "" for <root>, or any UPath
    # (s3://bucket/prefix, gs://…, memory://…); see tables_are_local()
    tables_root: str = ""
    batch_size: int = DEFAULT_BATCH_SIZE
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    # a file dropped into landing/ must be this old before the sensor takes it
    landing_settle_seconds: float = 10.0

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def landing(self) -> Path:
        return self.path / "landing"

    @property
    def embedding_cache(self) -> Path:
        return self.path / "embedding_cache" / "vectors.sqlite"

    @property
    def span_index_dir(self) -> Path:
        return self.path / "span_index"

    @property
    def inverted_index_dir(self) -> Path:
        return self.path / "inverted_index"

    def tables_are_local(self) -> bool:
        return (
            not self.tables_root
            or "://" not in self.tables_root
            or (self.tables_root.startswith("file://"))
        )

    def table_dir(self, asset: str, reader: str) -> Path:
        """The local folder of a table asset, for `reader`, an asset that reads its files
        directly (a glob, a scan across batches, a purge) rather than through the IO manager.
        Those readers need local files; with tables on object storage they stop here."""
        if not self.tables_are_local():
            raise dg.Failure(
                f"{reader} reads {asset} files directly and needs them on a local filesystem, "
                f"but TRAINING_TABLES_ROOT is {self.tables_root}. Object storage covers the "
                "table assets up to enriched_spans (README: Object storage)."
            )
        return Path(self.tables_root.removeprefix("file://") or self.root) / asset

    def table_path(self, asset: str, partition: str, reader: str) -> Path:
        """Where the Parquet IO manager keeps a table asset's partition (local tables only)."""
        return self.table_dir(asset, reader) / f"{partition}.parquet"
