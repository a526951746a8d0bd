"""diamond_spans and span_quarantine: the schema split, with its accounting checks."""

from datetime import datetime

import dagster as dg
import polars as pl

from resources.workspace import WorkspaceResource
from training_assets.ingestion.landing import find_manifest, records_found_in_file
from training_assets.metadata import markdown_table
from training_assets.partitions import batch_partitions, per_batch_backfill
from training_assets.project_settings import setting
from training_assets.validation.rules import DEFAULT_MIN_QUALITY
from training_assets.validation.split import split_diamonds
from training_assets.versions import curation_code_version


class DiamondConfig(dg.Config):
    min_quality: float = setting("validated_spans", "min_quality", DEFAULT_MIN_QUALITY)


def accounting_problems(
    records: int,
    raw: pl.DataFrame,
    diamonds: pl.DataFrame,
    quarantine: pl.DataFrame,
    in_file: int | None = None,
) -> list[str]:
    """Why the split does not account for every input record exactly once ([] if it does).

    `records` is what the batch plan says; `in_file` what the landed file itself holds in
    the batch's bytes (`records_found_in_file`), so a plan that lost records fails too.
    """
    problems = []
    if in_file is not None and in_file != records:
        problems.append(f"the file holds {in_file} records in this batch but {records} were read")
    if raw.height != diamonds.height + quarantine.height:
        problems.append(
            f"{raw.height} rows read but {diamonds.height} diamonds + {quarantine.height} quarantined"
        )
    seen = (
        pl.concat([diamonds.select("record_index"), quarantine.select("record_index")])
        .unique()
        .height
    )
    if seen != records:
        problems.append(f"{records} input records but {seen} appear in diamonds or quarantine")
    return problems


@dg.multi_asset(
    outs={
        "diamond_spans": dg.AssetOut(
            code_version=curation_code_version("validated_spans"),
            group_name="validation",
            kinds={"polars", "parquet"},
            io_manager_key="parquet_io_manager",
            description="Completed, schema-valid spans with quality ≥ threshold; timestamps in UTC.",
        ),
        "span_quarantine": dg.AssetOut(
            code_version=curation_code_version("validated_spans"),
            group_name="validation",
            kinds={"polars", "parquet"},
            io_manager_key="parquet_io_manager",
            description="Every other record: source_file, line_number, category, reason and "
            "the line's SHA-256 (never the line itself).",
        ),
    },
    partitions_def=batch_partitions,
    backfill_policy=per_batch_backfill,
    check_specs=[
        dg.AssetCheckSpec(
            "every_line_accounted_for",
            asset="diamond_spans",
            additional_deps=["span_quarantine"],
            description="records in the file's bytes = records read = diamonds + quarantine, "
            "and every input record appears",
        ),
        dg.AssetCheckSpec(
            "ids_unique", asset="diamond_spans", description="no span id twice in a batch"
        ),
    ],
)
def validated_spans(
    context: dg.AssetExecutionContext,
    config: DiamondConfig,
    raw_spans: pl.DataFrame,
    workspace: WorkspaceResource,
):
    manifest = find_manifest(workspace.landing, context.partition_key)
    default_when = datetime.fromisoformat(manifest.landed_at)
    diamonds, quarantine, summary = split_diamonds(raw_spans, config.min_quality, default_when)
    batch = manifest.batch(context.partition_key)
    records = batch.records
    mean_quality = (
        diamonds.select(pl.col("quality_score").mean()).item() if diamonds.height else 0.0
    )
    yield dg.Output(
        diamonds,
        output_name="diamond_spans",
        metadata={
            "total": summary.total,
            "valid": summary.valid,
            "invalid": summary.invalid,
            "filtered": summary.filtered,
            "duplicate": summary.duplicate,
            "unique_domains": diamonds.select(pl.col("environment").drop_nulls().n_unique()).item(),
            "unique_actions": diamonds.select(pl.col("did").n_unique()).item(),
            "average_quality": float(round(mean_quality or 0.0, 2)),
            "top_reasons": markdown_table(("reason", "count"), summary.top_reasons()),
        },
    )
    yield dg.Output(
        quarantine,
        output_name="span_quarantine",
        metadata={
            "quarantined": quarantine.height,
            "by_category": markdown_table(
                ("category", "count"),
                quarantine.group_by("category").len().sort("len", descending=True).rows(),
            ),
        },
    )
    in_file = records_found_in_file(workspace.landing, manifest, batch, workspace.max_record_bytes)
    problems = accounting_problems(records, raw_spans, diamonds, quarantine, in_file)
    yield dg.AssetCheckResult(
        check_name="every_line_accounted_for",
        asset_key="diamond_spans",
        passed=not problems,
        metadata={
            "records": records,
            "records_in_file": in_file,
            "rows": raw_spans.height,
            "diamonds": diamonds.height,
            "quarantined": quarantine.height,
            "problems": "; ".join(problems) or "none",
        },
    )
    duplicates = diamonds.height - diamonds.select(pl.col("id").n_unique()).item()
    yield dg.AssetCheckResult(
        check_name="ids_unique",
        asset_key="diamond_spans",
        passed=duplicates == 0,
        metadata={"duplicate_ids": duplicates},
    )
