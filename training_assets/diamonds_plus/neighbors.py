"""Nearest indexed diamonds of a batch's spans, and what is known about them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from training_assets.indexing.hnsw import SpanIndex

NEIGHBOR_COLUMNS = ["id", "batch", "environment", "tags", "quality_score", "content_hash"]


def nearest(
    index: SpanIndex, span_ids: list[str], vectors: np.ndarray, k: int
) -> list[list[tuple[str, float]]]:
    """For each span, up to k (id, cosine) of live indexed spans, best first, itself excluded."""
    labels, similarity = index.search(vectors, k + 1)
    table = index.labels.sort("label")
    ids = table["span_id"].to_numpy()
    deleted = table["deleted"].to_numpy()
    out = []
    for row, span_id in enumerate(span_ids):
        found = []
        for label, cosine in zip(labels[row], similarity[row], strict=True):
            other = ids[int(label)]
            if deleted[int(label)] or other == span_id:
                continue
            found.append((str(other), float(cosine)))
        out.append(found[:k])
    return out


def known_spans(enriched_dir: Path, ids: set[str], hashes: set[str]) -> pl.DataFrame:
    """Rows of every materialized enriched_spans batch whose id or content hash is asked for."""
    files = sorted(enriched_dir.glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema={c: pl.String for c in NEIGHBOR_COLUMNS})
    return (
        pl.scan_parquet([str(f) for f in files])
        .select(NEIGHBOR_COLUMNS)
        .filter(pl.col("id").is_in(list(ids)) | pl.col("content_hash").is_in(list(hashes)))
        .collect()
    )
