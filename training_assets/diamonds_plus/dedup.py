"""Exact and near-duplicate removal, SemDeDup-style: of each group keep the best span.

"Best" is one global order — higher quality first, then the smaller span id — so
every batch reaches the same verdict about a pair whichever batch runs first:

- exact: spans whose normalised question+answer (lower case, whitespace collapsed)
  hash the same (`content_hash`, computed in enriched_spans for every batch);
- near: spans whose combined vectors are at cosine ≥ `threshold` (default 0.95),
  found with the HNSW index over every indexed batch.

A span is dropped when a duplicate that ranks above it exists; the reason names it.
As in SemDeDup, the test is pairwise: in a chain A≈B≈C where A ranks first and C is
not close to A, B is dropped for A and C for B.
"""

from __future__ import annotations

from dataclasses import dataclass


def ranks_above(a: tuple[float, str], b: tuple[float, str]) -> bool:
    """(quality, id) a is kept over b."""
    return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1])


@dataclass(frozen=True)
class Verdict:
    reason: str
    kept_id: str


def exact_duplicates(
    spans: list[tuple[str, float, str]], others: list[tuple[str, float, str]]
) -> dict[str, Verdict]:
    """spans and others: (id, quality, content_hash). Returns the dropped ids of `spans`."""
    best: dict[str, tuple[float, str]] = {}
    for span_id, quality, digest in [*spans, *others]:
        if digest not in best or ranks_above((quality, span_id), best[digest]):
            best[digest] = (quality, span_id)
    return {
        span_id: Verdict("exact_duplicate", best[digest][1])
        for span_id, quality, digest in spans
        if best[digest][1] != span_id
    }


def near_duplicates(
    spans: list[tuple[str, float]],
    neighbors: list[list[tuple[str, float]]],
    quality_of: dict[str, float],
    threshold: float,
) -> dict[str, Verdict]:
    """spans: (id, quality); neighbors[i]: (id, cosine) of span i, itself excluded."""
    dropped = {}
    for (span_id, quality), close in zip(spans, neighbors, strict=True):
        for other_id, similarity in close:
            if similarity < threshold or other_id not in quality_of:
                continue
            if ranks_above((quality_of[other_id], other_id), (quality, span_id)):
                dropped[span_id] = Verdict(f"near_duplicate (cosine {similarity:.3f})", other_id)
                break
    return dropped
