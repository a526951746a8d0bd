"""raw_spans: a landed batch parsed into a typed, redacted table."""

import dagster as dg
import polars as pl

from resources.workspace import WorkspaceResource
from training_assets.ingestion.landing import find_manifest, iter_batch_candidates, rotated_out
from training_assets.ingestion.raw_table import raw_spans_frame
from training_assets.partitions import batch_table_asset
from training_assets.project_settings import setting
from training_assets.redaction.known import KnownSecrets


class RawSpansConfig(dg.Config):
    max_json_depth: int = setting("raw_spans", "max_json_depth", 64)


@batch_table_asset(
    group_name="ingestion",
    kinds={"polars", "parquet"},
    description="One typed row per span candidate of the batch (lines, or turns of a "
    "conversation), credentials already redacted; unreadable records keep a parse_error.",
)
def raw_spans(
    context: dg.AssetExecutionContext, config: RawSpansConfig, workspace: WorkspaceResource
) -> pl.DataFrame:
    archive = rotated_out(workspace.landing, context.partition_key)
    if archive:
        raise dg.Failure(
            f"batch {context.partition_key} was rotated out: its ledger is in "
            f"{archive} and its landing file was purged; nothing to re-materialize"
        )
    manifest = find_manifest(workspace.landing, context.partition_key)
    batch = manifest.batch(context.partition_key)
    candidates = iter_batch_candidates(
        workspace.landing, manifest, batch, workspace.max_record_bytes, config.max_json_depth
    )
    known = KnownSecrets(workspace.path / "redaction")
    frame = raw_spans_frame(candidates, batch.key, manifest.landed_name, manifest.format, known)
    redactions = frame.select(pl.col("redactions").list.len().sum()).item()
    context.add_output_metadata(
        {
            "source_file": manifest.landed_name,
            "format": manifest.format,
            "records": batch.records,
            "span_candidates": frame.height,
            "parse_errors": frame.select(pl.col("parse_error").is_not_null().sum()).item(),
            "redactions": int(redactions or 0),
        }
    )
    return frame
