"""The inverted index: term -> span ids, one postings file per batch, scored with BM25.

Terms are lower-cased word tokens of the question and answer (stop words dropped) plus
each tag as `tag:<name>`. Postings are kept per batch (`postings/<batch>.parquet`) so a
batch is added, replaced or purged by writing or deleting one file. We tokenise with a
regex rather than a library tokenizer: keyword search wants whole words, not the
sub-word pieces a model tokenizer produces.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import polars as pl

from training_assets.atomic import atomic_path

_TOKEN = re.compile(r"[a-z0-9_][a-z0-9_+#.-]*[a-z0-9_+#]|[a-z0-9]")
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "not",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "would",
        "could",
        "should",
        "been",
        "were",
        "than",
        "then",
        "also",
        "into",
        "about",
        "just",
        "any",
        "all",
        "some",
        "our",
        "out",
        "up",
    ]
)
POSTINGS_SCHEMA = pl.Schema(
    {
        "term": pl.String,
        "span_id": pl.String,
        "tf": pl.UInt32,
        "doc_len": pl.UInt32,
    }
)


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if t not in STOP_WORDS and len(t) <= 40]


_TAG_TERM = re.compile(r"\btag:([a-z0-9_]+)")


def query_terms(query: str) -> list[str]:
    """Words of a query, with `tag:<name>` kept whole so a tag can be searched for."""
    lowered = query.lower()
    tags = [f"tag:{name}" for name in _TAG_TERM.findall(lowered)]
    return list(dict.fromkeys(tags + tokenize(_TAG_TERM.sub(" ", lowered))))


POSTINGS_CHUNK_SPANS = 5000


def batch_postings(spans: pl.DataFrame) -> pl.DataFrame:
    """(term, span_id, tf, doc_len) rows for a batch, computed in polars (no Python per token).

    Tokens are the same as `tokenize` gives: polars' regex engine reads `_TOKEN` with the
    same meaning, since the pattern uses explicit ASCII classes only. Spans are taken
    5000 at a time: the exploded token lists of a whole 50k-span batch peaked at 2 GB.
    The batch is the postings file's name, not a column.
    """
    parts = [
        _postings(spans.slice(start, POSTINGS_CHUNK_SPANS))
        for start in range(0, spans.height, POSTINGS_CHUNK_SPANS)
    ]
    return pl.concat(parts) if parts else pl.DataFrame(schema=POSTINGS_SCHEMA)


def _postings(spans: pl.DataFrame) -> pl.DataFrame:
    words = (
        spans.lazy()
        .select(
            pl.col("id").alias("span_id"),
            pl.concat_str([pl.col("this"), pl.col("if_ok").fill_null("")], separator=" ")
            .str.to_lowercase()
            .str.extract_all(_TOKEN.pattern)
            .alias("term"),
        )
        .explode("term")
        .filter(
            pl.col("term").is_not_null()
            & ~pl.col("term").is_in(list(STOP_WORDS))
            & (pl.col("term").str.len_chars() <= 40)
        )
    )
    tags = (
        spans.lazy()
        .select(pl.col("id").alias("span_id"), pl.col("tags").alias("term"))
        .explode("term")
        .filter(pl.col("term").is_not_null())
        .with_columns((pl.lit("tag:") + pl.col("term")).alias("term"))
    )
    terms = pl.concat([words, tags])
    lengths = terms.group_by("span_id").agg(pl.len().cast(pl.UInt32).alias("doc_len"))
    return (
        terms.group_by("span_id", "term")
        .agg(pl.len().cast(pl.UInt32).alias("tf"))
        .join(lengths, on="span_id")
        .select("term", "span_id", "tf", "doc_len")
        .collect()
        .cast(dict(POSTINGS_SCHEMA))
    )


def write_postings(directory: Path, batch: str, postings: pl.DataFrame) -> None:
    with atomic_path(directory / "postings" / f"{batch}.parquet") as tmp:
        postings.write_parquet(tmp)


def remove_postings(directory: Path, batch: str) -> None:
    (directory / "postings" / f"{batch}.parquet").unlink(missing_ok=True)


def keyword_search(
    directory: Path, query: str, k: int = 10, k1: float = 1.2, b: float = 0.75
) -> list[tuple[str, str, float]]:
    """BM25 over all batches: [(batch, span_id, score)], best first."""
    files = sorted((directory / "postings").glob("*.parquet"))
    terms = query_terms(query)
    if not files or not terms:
        return []
    postings = pl.scan_parquet(files, include_file_paths="path").with_columns(
        pl.col("path").str.extract(r"([^/]+)\.parquet$").alias("batch")
    )
    docs = (
        postings.select("batch", "span_id", "doc_len")
        .unique()
        .select(pl.len().alias("n"), pl.col("doc_len").mean().alias("avg"))
        .collect()
    )
    n_docs, avg_len = docs["n"][0], docs["avg"][0] or 1.0
    hits = postings.filter(pl.col("term").is_in(terms)).collect()
    if hits.is_empty():
        return []
    df = hits.group_by("term").agg(pl.len().alias("df"))
    idf = {term: math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) for term, d in df.iter_rows()}
    scored = (
        hits.with_columns(
            (
                pl.col("term").replace_strict(idf, return_dtype=pl.Float64)
                * pl.col("tf")
                * (k1 + 1)
                / (pl.col("tf") + k1 * (1 - b + b * pl.col("doc_len") / avg_len))
            ).alias("score")
        )
        .group_by("batch", "span_id")
        .agg(pl.col("score").sum())
        .sort("score", descending=True)
        .head(k)
    )
    return [(batch, span_id, float(score)) for batch, span_id, score in scored.iter_rows()]
