"""span_embeddings: query, response and combined vectors of each diamond span."""

import dagster as dg
import numpy as np
import polars as pl

from resources.embedder import EmbedderResource
from training_assets.embedding.agreement import (
    MIN_MEAN_COSINE,
    MIN_RECALL_AT_10,
    SAMPLE,
    agreement,
    sample_texts,
)
from training_assets.embedding.backends import REFERENCE
from training_assets.embedding.encoder import Embedder, combine
from training_assets.metadata import rate_line
from training_assets.partitions import batch_table_asset


def vector_column(name: str, matrix: np.ndarray) -> pl.Series:
    return pl.Series(name, matrix, dtype=pl.Array(pl.Float32, matrix.shape[1]))


@batch_table_asset(
    group_name="embedding",
    kinds={"sentence_transformers", "polars"},
    description="L2-normalised float32 vectors: query (`this`), response (`if_ok`) and "
    "combined (normalised sum), with the `embedder` that made them (model and backend). "
    "Cached by embedder and text: no text is embedded twice.",
    check_specs=[
        dg.AssetCheckSpec(
            "agrees_with_fp32",
            asset="span_embeddings",
            blocking=True,
            description=f"on {SAMPLE} texts of the batch, the backend's vectors against fp32: "
            f"mean cosine ≥ {MIN_MEAN_COSINE}, neighbour recall@10 ≥ {MIN_RECALL_AT_10}",
        )
    ],
)
def span_embeddings(
    context: dg.AssetExecutionContext, diamond_spans: pl.DataFrame, embedder: EmbedderResource
):
    model = embedder.get()
    texts = pl.concat([diamond_spans["this"], diamond_spans["if_ok"]])

    def progress(done: int, total: int, elapsed: float) -> None:
        context.log.info(rate_line("embedded", done, total, elapsed))

    vectors, stats = model.encode(texts, progress)
    model.release()
    check = _agreement_check(model, texts, vectors)
    query, response = vectors[: diamond_spans.height], vectors[diamond_spans.height :]
    frame = pl.DataFrame(
        [
            diamond_spans["batch"],
            diamond_spans["id"],
            vector_column("query_vec", query),
            vector_column("response_vec", response),
            vector_column("combined_vec", combine(query, response)),
        ]
    ).with_columns(pl.lit(model.fingerprint).alias("embedder"))
    yield dg.Output(
        frame,
        metadata={
            "model": model.fingerprint,
            "backend": model.backend,
            "dimension": model.dimension,
            "texts": stats.texts,
            "unique_texts": stats.unique,
            "cache_hits": stats.cache_hits,
            "encoded": stats.encoded,
            "seconds": round(stats.seconds, 2),
            "encoded_per_second": round(stats.encoded / stats.seconds, 1)
            if stats.seconds and stats.encoded
            else 0.0,
        },
    )
    yield check


def _agreement_check(model, texts: pl.Series, vectors) -> dg.AssetCheckResult:
    """The backend's vectors of a sample of the batch against fp32 ones (the reference
    backend checks nothing: it is the reference)."""
    if model.backend == REFERENCE:
        return dg.AssetCheckResult(
            check_name="agrees_with_fp32",
            passed=True,
            metadata={"backend": model.backend, "note": "the fp32 reference itself"},
        )
    sample = sample_texts(texts.to_list())
    first_row = {}
    for row, text in enumerate(texts.to_list()):
        first_row.setdefault(text, row)
    reference = Embedder(
        model.model_name,
        model.cache.path,
        model.device,
        model.batch_size,
        model.max_seq_length,
        REFERENCE,
    )
    expected, _ = reference.encode(sample)
    reference.release()
    reference.cache.close()
    found = agreement(vectors[[first_row[text] for text in sample]], expected)
    return dg.AssetCheckResult(
        check_name="agrees_with_fp32",
        passed=found.passed(),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "backend": model.backend,
            "sample": found.sample,
            "mean_cosine": round(found.mean_cosine, 6),
            "min_cosine": round(found.min_cosine, 6),
            "recall_at_10": round(found.recall_at_10, 4),
        },
    )
