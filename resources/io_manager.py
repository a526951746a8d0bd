"""dagster-polars' Parquet IO manager, made crash-safe for local paths.

The stock manager writes the target file in place, so a crash mid-write leaves a
truncated Parquet file that the next run would read. Locally we write to a temporary
name in the same folder and rename it; object stores already replace whole objects.
"""

from __future__ import annotations

import os
import uuid

import polars as pl
from dagster import OutputContext
from dagster_polars import PolarsParquetIOManager
from upath import UPath


def _is_local(path: UPath) -> bool:
    return getattr(path, "protocol", "") in ("", "file", "local")


class AtomicPolarsParquetIOManager(PolarsParquetIOManager):
    def write_df_to_path(self, context: OutputContext, df: pl.DataFrame, path: UPath) -> None:
        if not _is_local(path):
            super().write_df_to_path(context, df, path)
            return
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            super().write_df_to_path(context, df, tmp)
            os.replace(str(tmp), str(path))
        finally:
            if os.path.exists(str(tmp)):
                os.unlink(str(tmp))

    def sink_df_to_path(self, context: OutputContext, df: pl.LazyFrame, path: UPath) -> None:
        self.write_df_to_path(context, df.collect(), path)
