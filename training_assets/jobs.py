"""Jobs: the curation job runs one batch through the data half, up to the indexes."""

import dagster as dg

from training_assets.partitions import batch_partitions

DATA_HALF = dg.AssetSelection.groups(
    "ingestion", "validation", "embedding", "enrichment", "indexing"
)

curation_job = dg.define_asset_job(
    "curation_job",
    selection=DATA_HALF,
    partitions_def=batch_partitions,
    description="One batch: raw_spans → diamond_spans/span_quarantine → span_embeddings → "
    "enriched_spans, then span_index and inverted_index updated with it.",
)
