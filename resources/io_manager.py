"""dagster-polars' Parquet IO manager, made crash-safe for local paths.

The stock manager writes the target file in place, so a crash mid-write leaves a
truncated Parquet file that the next run would read. Locally we write to a temporary
name in the same folder and rename it; object stores already replace whole objects.
"""

from __future__ import annotations

import os

import polars as pl
from dagster import Failure, InputContext, OutputContext
from dagster_polars import PolarsParquetIOManager
from upath import UPath

from training_assets.atomic import staging_path


def _is_local(path: UPath) -> bool:
    return getattr(path, "protocol", "") in ("", "file", "local")


class AtomicPolarsParquetIOManager(PolarsParquetIOManager):
    def write_df_to_path(self, context: OutputContext, df: pl.DataFrame, path: UPath) -> None:
        if not _is_local(path):
            super().write_df_to_path(context, df, path)
            return
        tmp = UPath(staging_path(str(path)))
        try:
            super().write_df_to_path(context, df, tmp)
            os.replace(str(tmp), str(path))
        finally:
            if os.path.exists(str(tmp)):
                os.unlink(str(tmp))

    def sink_df_to_path(self, context: OutputContext, df: pl.LazyFrame, path: UPath) -> None:
        self.write_df_to_path(context, df.collect(), path)

    def load_from_path(self, context: InputContext, path: UPath):
        """A damaged upstream file (truncated by a copy, a disk fault) is a clear failure
        that names the file and the step that rewrites it, not a Parquet decoder's trace."""
        try:
            return super().load_from_path(context, path)
        except FileNotFoundError:
            raise
        except (pl.exceptions.PolarsError, OSError) as error:
            upstream = context.upstream_output
            asset = (
                upstream.asset_key.to_user_string()
                if upstream and upstream.has_asset_key
                else "its asset"
            )
            partition = (
                f" --partition {context.asset_partition_key}"
                if context.has_asset_partitions
                else ""
            )
            raise Failure(
                f"{path} cannot be read as Parquet ({type(error).__name__}: {str(error)[:200]}): "
                f"the file is damaged. Rewrite it with `dagster asset materialize -m "
                f"training_assets.definitions --select {asset}{partition}`, then re-run this step."
            ) from error
