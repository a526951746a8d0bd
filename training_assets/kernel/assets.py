"""kernel_state[batch] (a batch's compact knowledge) and global_kernel_state (their merge),
both JSON in $TRAINING_WORKSPACE/kernel/, which rotation never purges."""

import json
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import polars as pl

from resources.workspace import WorkspaceResource
from training_assets.atomic import write_json_atomic
from training_assets.kernel.files import (
    GLOBAL_KERNEL,
    KERNEL_DIR,
    archive_record,
    kernel_path,
    load_ledger,
)
from training_assets.kernel.state import (
    PatternParams,
    RecommendationParams,
    build_kernel_state,
    merge_kernel_states,
)
from training_assets.metadata import markdown_table
from training_assets.partitions import batch_partitions, per_batch_backfill
from training_assets.project_settings import setting
from training_assets.versions import curation_code_version


class KernelStateConfig(dg.Config):
    pattern_similarity: float = setting("kernel_state", "pattern_similarity", 0.8)
    pattern_min_size: int = setting("kernel_state", "pattern_min_size", 3)
    under_represented_share: float = setting("kernel_state", "under_represented_share", 0.02)
    frequent_rejection_share: float = setting("kernel_state", "frequent_rejection_share", 0.05)


def _patterns_table(patterns: list[dict], limit: int = 10) -> dg.MarkdownMetadataValue:
    return markdown_table(
        ["action", "environment", "tags", "size", "confidence", "examples"],
        [
            (
                p["action"],
                p["environment"],
                ", ".join(p.get("tags") or [p.get("tag", "")]),
                p["size"],
                p["confidence"],
                ", ".join(p["example_ids"][:3]),
            )
            for p in patterns[:limit]
        ],
    )


def _recommendations_table(advice: list[dict]) -> dg.MarkdownMetadataValue:
    return markdown_table(
        ["kind", "subject", "count", "share"],
        [(a["kind"], a["subject"], a["count"], a["share"]) for a in advice],
    )


@dg.asset(
    partitions_def=batch_partitions,
    backfill_policy=per_batch_backfill,
    deps=["diamonds_plus", "span_embeddings", "span_quarantine"],
    code_version=curation_code_version("kernel_state"),
    group_name="kernel",
    kinds={"hnswlib", "json"},
    description="The batch's durable knowledge: patterns (clusters of similar spans), "
    "statistics, recommendations and a Merkle root over its spans' content hashes. "
    "Kept after the batch's tables are archived and purged.",
)
def kernel_state(
    context: dg.AssetExecutionContext, config: KernelStateConfig, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    batch = context.partition_key
    root = workspace.path
    archived = archive_record(root, batch)
    if archived:
        raise dg.Failure(
            f"batch {batch} was archived to {archived['path']} and purged: its kernel state is "
            f"kept as it is (`training-assets kernel rebuild {archived['path']}` recomputes it)"
        )
    ledger = load_ledger(root, batch, workspace.tables)
    vectors = pl.read_parquet(
        str(workspace.table_path("span_embeddings", batch)),
        columns=["id", "combined_vec"],
    )
    matrix = vectors["combined_vec"].to_numpy().astype(np.float32, copy=False)
    state = build_kernel_state(
        ledger,
        dict(zip(vectors["id"].to_list(), matrix, strict=True)),
        datetime.now(UTC).isoformat(),
        PatternParams(similarity=config.pattern_similarity, min_size=config.pattern_min_size),
        RecommendationParams(config.under_represented_share, config.frequent_rejection_share),
    )
    path = kernel_path(root, batch)
    write_json_atomic(path, state)
    return dg.MaterializeResult(
        metadata={
            "merkle_root": state["merkle_root"],
            "spans": state["spans"],
            "patterns": len(state["patterns"]),
            "kernel_bytes": path.stat().st_size,
            "top_patterns": _patterns_table(state["patterns"]),
            "recommendations": _recommendations_table(state["recommendations"]),
            "path": dg.MetadataValue.path(str(path)),
        }
    )


@dg.asset(
    deps=[kernel_state],
    group_name="kernel",
    kinds={"json"},
    description="The merge of every batch's kernel state (associative, idempotent): totals, "
    "patterns across batches, recommendations, and a Merkle root over the batches' roots.",
)
def global_kernel_state(
    context: dg.AssetExecutionContext, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    folder = workspace.path / KERNEL_DIR
    states = [
        json.loads(path.read_text())
        for path in sorted(folder.glob("*.json"))
        if path.name != GLOBAL_KERNEL
    ]
    merged = merge_kernel_states(*states)
    target = folder / GLOBAL_KERNEL
    write_json_atomic(target, merged)
    context.log.info(f"global kernel: {len(merged['batches'])} batches, {merged['spans']} spans")
    return dg.MaterializeResult(
        metadata={
            "batches": len(merged["batches"]),
            "spans": merged["spans"],
            "merkle_root": merged["merkle_root"],
            "kernel_bytes": target.stat().st_size,
            "top_patterns": _patterns_table(merged["patterns"]),
            "recommendations": _recommendations_table(merged["recommendations"]),
            "path": dg.MetadataValue.path(str(target)),
        }
    )
