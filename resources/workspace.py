"""The workspace: the one folder (TRAINING_WORKSPACE, default ./workspace) the assets write."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from upath import UPath

from training_assets.ingestion.landing import DEFAULT_BATCH_SIZE
from training_assets.ingestion.records import DEFAULT_MAX_RECORD_BYTES


class WorkspaceResource(dg.ConfigurableResource):
    """Paths inside the workspace, and the ingest settings shared by CLI and sensor."""

    root: str
    # where the Parquet IO manager keeps table assets: "" for <root>, a folder, or a UPath
    # on object storage (s3://bucket/prefix, gs://…)
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
        return "://" not in self.tables_root or self.tables_root.startswith("file://")

    @property
    def tables(self) -> Path | UPath:
        """Where table assets live: a local folder, or a UPath on object storage."""
        if self.tables_are_local():
            return Path(self.tables_root.removeprefix("file://") or self.root)
        return UPath(self.tables_root)

    def table_dir(self, asset: str) -> Path | UPath:
        return self.tables / asset

    def table_path(self, asset: str, partition: str) -> Path | UPath:
        """Where the Parquet IO manager keeps a table asset's partition."""
        return self.table_dir(asset) / f"{partition}.parquet"

    def require_local_tables(self, reader: str) -> None:
        """Stop `reader`, which needs table files on a local disk (it purges them and
        measures the disk budget), when the tables are on object storage."""
        if not self.tables_are_local():
            raise dg.Failure(
                f"{reader} works on local table files, but TRAINING_TABLES_ROOT is "
                f"{self.tables_root}: object storage has its own lifecycle rules for old "
                "batches (README: Object storage)."
            )
