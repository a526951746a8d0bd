"""diamonds_plus, diamonds_plus_rejected and diamonds_plus_report of a batch."""

import dagster as dg
import polars as pl

from resources.base_model import BaseModelResource
from resources.workspace import WorkspaceResource
from training_assets.diamonds_plus.curate import CurationInputError, curate, gather_inputs
from training_assets.diamonds_plus.enzymes.context_preserver import ContextPreserver
from training_assets.diamonds_plus.enzymes.security import SecurityEnzyme
from training_assets.diamonds_plus.enzymes.semantic_enricher import SemanticEnricher
from training_assets.diamonds_plus.enzymes.syntax_optimizer import SyntaxOptimizer
from training_assets.diamonds_plus.plots import quality_histogram_png
from training_assets.diamonds_plus.report import ENZYME_COLUMNS, enzyme_rows, summary_rows
from training_assets.indexing.assets import inverted_index, span_index
from training_assets.metadata import markdown_table, png_markdown, rate_line
from training_assets.partitions import batch_partitions, per_batch_backfill
from training_assets.project_settings import setting
from training_assets.versions import curation_code_version

ENZYME_NAMES = ("semantic-enricher", "syntax-optimizer", "context-preserver", "security-enzyme")


class DiamondsPlusConfig(dg.Config):
    enzymes: list[str] = setting(
        "diamonds_plus", "enzymes", list(ENZYME_NAMES)
    )  # run order; leave a name out to switch it off
    near_duplicate_threshold: float = setting("diamonds_plus", "near_duplicate_threshold", 0.95)
    neighbors: int = setting("diamonds_plus", "neighbors", 10)
    related_similarity: float = setting("diamonds_plus", "related_similarity", 0.80)
    context_token_budget: int = setting("diamonds_plus", "context_token_budget", 1024)
    redact_emails: bool = setting("diamonds_plus", "redact_emails", False)
    redact_phone_numbers: bool = setting("diamonds_plus", "redact_phone_numbers", False)
    gate: float = setting("diamonds_plus", "gate", 85.0)


def build_enzymes(config: DiamondsPlusConfig, base_model: BaseModelResource) -> list:
    unknown = set(config.enzymes) - set(ENZYME_NAMES)
    if unknown:
        raise dg.Failure(f"unknown enzyme(s) {sorted(unknown)}; known: {list(ENZYME_NAMES)}")
    makers = {
        "semantic-enricher": lambda: SemanticEnricher(related_similarity=config.related_similarity),
        "syntax-optimizer": SyntaxOptimizer,
        "context-preserver": lambda: ContextPreserver(
            base_model.token_counter(), config.context_token_budget
        ),
        "security-enzyme": lambda: SecurityEnzyme(
            config.redact_emails, config.redact_phone_numbers
        ),
    }
    return [makers[name]() for name in config.enzymes]


@dg.multi_asset(
    outs={
        "diamonds_plus": dg.AssetOut(
            is_required=False,  # subsettable: only the selected outputs are written
            code_version=curation_code_version("diamonds_plus"),
            io_manager_key="parquet_io_manager",
            kinds={"polars", "parquet"},
            description="Training-grade spans of the batch: deduplicated, through the enzymes, "
            "re-scored (training_assets/diamonds_plus/scoring.py) and at or above the gate.",
        ),
        "diamonds_plus_rejected": dg.AssetOut(
            is_required=False,  # subsettable: only the selected outputs are written
            code_version=curation_code_version("diamonds_plus"),
            io_manager_key="parquet_io_manager",
            kinds={"polars", "parquet"},
            description="Spans the gate or dedup turned away, with `reason` and `duplicate_of`.",
        ),
        "diamonds_plus_report": dg.AssetOut(
            is_required=False,  # subsettable: only the selected outputs are written
            code_version=curation_code_version("diamonds_plus"),
            io_manager_key="json_io_manager",
            kinds={"json"},
            description="Counts of the batch's curation: kept, rejected by reason, enzymes, "
            "duplicates, redactions by kind (`$TRAINING_WORKSPACE/diamonds_plus_report/<batch>.json`).",
        ),
    },
    ins={
        "enriched_spans": dg.AssetIn(),
        "span_embeddings": dg.AssetIn(metadata={"columns": ["id", "combined_vec"]}),
        "raw_spans": dg.AssetIn(
            metadata={"columns": ["id", "thread_id", "parent_id", "this", "if_ok", "parse_error"]}
        ),
    },
    deps=[span_index, inverted_index],
    partitions_def=batch_partitions,
    backfill_policy=per_batch_backfill,
    group_name="diamonds_plus",
    # any of the three can be selected alone (`--select diamonds_plus`): the batch is
    # curated once and only the selected outputs are written
    can_subset=True,
)
def diamonds_plus(
    context: dg.AssetExecutionContext,
    config: DiamondsPlusConfig,
    enriched_spans: pl.DataFrame,
    span_embeddings: pl.DataFrame,
    raw_spans: pl.DataFrame,
    workspace: WorkspaceResource,
    base_model: BaseModelResource,
):
    batch = context.partition_key
    enzymes = build_enzymes(config, base_model)
    try:
        inputs = gather_inputs(
            batch,
            enriched_spans,
            span_embeddings,
            raw_spans,
            workspace.span_index_dir,
            workspace.table_dir("enriched_spans"),
            config.neighbors,
        )
    except CurationInputError as error:
        raise dg.Failure(str(error)) from error
    result = curate(
        inputs,
        enzymes,
        config.near_duplicate_threshold,
        config.gate,
        progress=lambda done, total, seconds: context.log.info(
            rate_line("through the enzymes", done, total, seconds)
        ),
    )
    report = result.report
    below_gate = result.rejected.filter(pl.col("reason").str.starts_with("below_gate"))
    histogram = quality_histogram_png(
        result.kept["quality"].to_list(), below_gate["quality"].to_list(), config.gate
    )
    selected = context.selected_output_names
    if "diamonds_plus" in selected:
        yield dg.Output(
            result.kept,
            output_name="diamonds_plus",
            metadata={
                "spans": result.kept.height,
                "mean_quality": round(float(result.kept["quality"].mean() or 0.0), 2),
                "quality_histogram": png_markdown(histogram, "quality histogram"),
            },
        )
    if "diamonds_plus_rejected" in selected:
        yield dg.Output(
            result.rejected,
            output_name="diamonds_plus_rejected",
            metadata={"spans": result.rejected.height, "by_reason": report["rejected_by_reason"]},
        )
    if "diamonds_plus_report" in selected:
        yield dg.Output(
            report,
            output_name="diamonds_plus_report",
            metadata={
                "report": markdown_table(("measure", "value"), summary_rows(report)),
                "total_processed": report["total_processed"],
                "diamonds_plus": report["diamonds_plus"],
                "rejected": report["rejected"],
                "duplicates_removed": report["duplicates_removed"],
                "average_quality_improvement": report["average_quality_improvement"],
                "rejected_by_reason": report["rejected_by_reason"],
                "redactions_by_kind": report["redactions_by_kind"],
                "enzymes": markdown_table(ENZYME_COLUMNS, enzyme_rows(report)),
                "path": dg.MetadataValue.path(
                    str(workspace.path / "diamonds_plus_report" / f"{batch}.json")
                ),
            },
        )
