"""Search the indexes: semantic (HNSW), keyword (BM25) or both fused by reciprocal rank."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from training_assets.embedding.encoder import Embedder
from training_assets.indexing.hnsw import open_span_index
from training_assets.indexing.inverted import keyword_search

MODES = ("semantic", "keyword", "hybrid")
_RRF_K = 60


@dataclass(frozen=True)
class Hit:
    batch: str
    span_id: str
    score: float
    question: str = ""
    answer: str = ""
    tags: tuple[str, ...] = ()


def semantic_hits(index_dir: Path, embedder: Embedder, query: str, k: int) -> list[Hit]:
    index = open_span_index(index_dir, embedder.dimension)
    if index is None:
        raise FileNotFoundError(f"no span index in {index_dir}: materialize span_index first")
    vector, _ = embedder.encode([query])
    labels, similarity = index.search(vector.astype(np.float32), k)
    names = index.labels.filter(pl.col("label").is_in(labels[0].tolist()))
    by_label = {row["label"]: row for row in names.iter_rows(named=True)}
    return [
        Hit(by_label[label]["batch"], by_label[label]["span_id"], float(score))
        for label, score in zip(labels[0].tolist(), similarity[0].tolist(), strict=True)
    ]


def fuse(rankings: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal rank fusion: score = Σ 1 / (60 + rank) over the rankings a hit is in."""
    scores: dict[tuple[str, str], float] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, 1):
            scores[(hit.batch, hit.span_id)] = scores.get((hit.batch, hit.span_id), 0.0) + 1 / (
                _RRF_K + rank
            )
    best = sorted(scores.items(), key=lambda item: -item[1])[:k]
    return [Hit(batch, span_id, score) for (batch, span_id), score in best]


def attach_text(tables, hits: list[Hit]) -> list[Hit]:
    """Fill in question, answer and tags from enriched_spans (under `tables`, a local
    folder or a UPath on object storage)."""
    out = []
    for hit in hits:
        path = tables / "enriched_spans" / f"{hit.batch}.parquet"
        row = None
        if path.exists():
            rows = (
                pl.scan_parquet(str(path))
                .filter(pl.col("id") == hit.span_id)
                .select("this", "if_ok", "tags")
                .collect()
            )
            row = rows.row(0) if rows.height else None
        if row is None:
            out.append(hit)
        else:
            out.append(
                Hit(hit.batch, hit.span_id, hit.score, row[0], row[1] or "", tuple(row[2] or ()))
            )
    return out


def search(
    workspace: Path,
    embedder: Embedder | None,
    query: str,
    k: int = 5,
    mode: str = "semantic",
    tables=None,
) -> list[Hit]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    rankings = []
    if mode in ("semantic", "hybrid"):
        rankings.append(
            semantic_hits(
                workspace / "span_index", embedder, query, k if mode == "semantic" else 4 * k
            )
        )
    if mode in ("keyword", "hybrid"):
        found = keyword_search(
            workspace / "inverted_index", query, k if mode == "keyword" else 4 * k
        )
        rankings.append([Hit(batch, span_id, score) for batch, span_id, score in found])
    hits = rankings[0][:k] if len(rankings) == 1 else fuse(rankings, k)
    return attach_text(workspace if tables is None else tables, hits)
