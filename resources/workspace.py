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

    def table_path(self, asset: str, partition: str) -> Path:
        """Where the Parquet IO manager keeps a table asset's partition."""
        return self.path / asset / f"{partition}.parquet"
