"""span_embeddings: query, response and combined vectors of each diamond span."""

import dagster as dg
import numpy as np
import polars as pl

from resources.embedder import EmbedderResource
from training_assets.embedding.encoder import combine
from training_assets.metadata import rate_line
from training_assets.partitions import batch_table_asset


def vector_column(name: str, matrix: np.ndarray) -> pl.Series:
    return pl.Series(name, matrix, dtype=pl.Array(pl.Float32, matrix.shape[1]))


@batch_table_asset(
    group_name="embedding",
    kinds={"sentence_transformers", "polars"},
    description="L2-normalised float32 vectors: query (`this`), response (`if_ok`) and "
    "combined (normalised sum). Cached by model and text: no text is embedded twice.",
)
def span_embeddings(
    context: dg.AssetExecutionContext, diamond_spans: pl.DataFrame, embedder: EmbedderResource
) -> pl.DataFrame:
    model = embedder.get()
    texts = pl.concat([diamond_spans["this"], diamond_spans["if_ok"]])

    def progress(done: int, total: int, elapsed: float) -> None:
        context.log.info(rate_line("embedded", done, total, elapsed))

    vectors, stats = model.encode(texts, progress)
    model.release()
    query, response = vectors[: diamond_spans.height], vectors[diamond_spans.height :]
    frame = pl.DataFrame(
        [
            diamond_spans["batch"],
            diamond_spans["id"],
            vector_column("query_vec", query),
            vector_column("response_vec", response),
            vector_column("combined_vec", combine(query, response)),
        ]
    )
    context.add_output_metadata(
        {
            "model": model.fingerprint,
            "dimension": model.dimension,
            "texts": stats.texts,
            "unique_texts": stats.unique,
            "cache_hits": stats.cache_hits,
            "encoded": stats.encoded,
            "seconds": round(stats.seconds, 2),
            "encoded_per_second": round(stats.encoded / stats.seconds, 1)
            if stats.seconds and stats.encoded
            else 0.0,
        }
    )
    return frame
