"""enriched_spans: diamond spans with semantic tags and a complexity score."""

import dagster as dg
import numpy as np
import polars as pl

from resources.embedder import EmbedderResource
from training_assets.enrichment.complexity import complexity_score
from training_assets.enrichment.tags import structural_tags, tag_matrix
from training_assets.metadata import markdown_table
from training_assets.partitions import batch_table_asset
from training_assets.project_settings import setting
from training_assets.spans.hashing import content_hash
from training_assets.spans.taxonomy import TAXONOMY


class EnrichmentConfig(dg.Config):
    tag_threshold: float = setting("enriched_spans", "tag_threshold", 0.30)
    max_semantic_tags: int = setting("enriched_spans", "max_semantic_tags", 3)


@batch_table_asset(
    group_name="enrichment",
    kinds={"polars", "parquet"},
    description="Diamond spans plus `tags` (semantic, from the taxonomy, and structural), "
    "`complexity` 0–100 (formula in training_assets/enrichment/complexity.py) and "
    "`content_hash` (normalised question+answer, for exact-duplicate removal).",
)
def enriched_spans(
    context: dg.AssetExecutionContext,
    config: EnrichmentConfig,
    diamond_spans: pl.DataFrame,
    span_embeddings: pl.DataFrame,
    embedder: EmbedderResource,
) -> pl.DataFrame:
    if not span_embeddings["id"].equals(diamond_spans["id"]):
        raise ValueError("span_embeddings is out of date for this batch: re-materialize it first")
    names = list(TAXONOMY)
    tag_vectors, _ = embedder.get().encode([TAXONOMY[name] for name in names])
    vectors = span_embeddings["combined_vec"].to_numpy().astype(np.float32, copy=False)
    semantic = tag_matrix(
        vectors, tag_vectors, names, config.tag_threshold, config.max_semantic_tags
    )
    tags, complexity, hashes = [], [], []
    for row, span_tags in zip(
        diamond_spans.select("this", "if_ok", "turn_index").iter_rows(), semantic, strict=True
    ):
        tags.append(span_tags + structural_tags(*row))
        complexity.append(complexity_score(*row))
        hashes.append(content_hash(row[0], row[1]))
    frame = diamond_spans.with_columns(
        pl.Series("tags", tags, dtype=pl.List(pl.String)),
        pl.Series("complexity", complexity, dtype=pl.Float64),
        pl.Series("content_hash", hashes, dtype=pl.String),
    )
    counts = frame.select(pl.col("tags").explode().drop_nulls().value_counts(sort=True)).unnest(
        "tags"
    )
    context.add_output_metadata(
        {
            "spans": frame.height,
            "untagged": frame.select((pl.col("tags").list.len() == 0).sum()).item(),
            "mean_complexity": round(float(frame["complexity"].mean() or 0.0), 2),
            "tag_counts": markdown_table(("tag", "spans"), counts.head(20).rows()),
        }
    )
    return frame
