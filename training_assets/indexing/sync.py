"""Bring both indexes in line with the batch tables on disk: add new or changed batches,
drop entries of changed or removed (purged) ones. Used by the index assets and the purge."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from training_assets.atomic import write_json_atomic
from training_assets.indexing.hnsw import HnswParams, SpanIndex, load_span_index, save_span_index
from training_assets.indexing.inverted import batch_postings, remove_postings, write_postings
from training_assets.indexing.sources import batch_sources, plan_sync
from training_assets.locks import exclusive_lock


class NothingToIndex(ValueError):
    pass


@dataclass(frozen=True)
class IndexSync:
    batches: int
    added: int
    removed: int
    live: int = 0
    deleted: int = 0
    generation: int = 0
    other_embedder: tuple[str, ...] = ()  # batches left out: embedded by another model/backend


def table_embedder(path: Path, legacy: str | None) -> str | None:
    """Who embedded a span_embeddings table (its `embedder` column); `legacy` for tables
    written before the column existed (they were all embedded in fp32)."""
    if "embedder" not in pl.read_parquet_schema(str(path)):
        return legacy
    column = pl.read_parquet(str(path), columns=["embedder"], n_rows=1)["embedder"]
    return column[0] if len(column) else legacy


def same_embedder(sources: dict, embedder: str, legacy: str | None) -> tuple[dict, list[str]]:
    """The sources embedded by `embedder`, and the batches embedded by another one: vectors
    of two models or backends never share one index."""
    kept = {b: s for b, s in sources.items() if table_embedder(s.path, legacy) == embedder}
    return kept, sorted(set(sources) - set(kept))


def _dimension(directory: Path, sources) -> int | None:
    for source in sources.values():
        return pl.read_parquet_schema(str(source.path))["combined_vec"].size
    manifest = directory / "manifest.json"
    return json.loads(manifest.read_text())["dimension"] if manifest.exists() else None


def sync_span_index(
    directory: Path,
    embeddings_dir: Path,
    params: HnswParams,
    rebuild_when_deleted_share: float = 0.3,
    log: Callable[[str], None] = lambda message: None,
    embedder: str | None = None,
    legacy_embedder: str | None = None,
) -> IndexSync:
    """Add new or changed batches, drop changed or removed ones; with `embedder`, only
    batches embedded by it (the others are left out, and named in the result)."""
    with exclusive_lock(directory / ".lock"):
        sources, other = batch_sources(embeddings_dir), []
        if embedder is not None:
            sources, other = same_embedder(sources, embedder, legacy_embedder)
            if other:
                log(f"left out, embedded by another model or backend: {', '.join(other)}")
        dimension = _dimension(directory, sources)
        if dimension is None:
            raise NothingToIndex(
                "no span_embeddings partition is materialized yet: materialize a batch first"
            )
        index = load_span_index(directory, dimension, params)
        plan = plan_sync(sources, index.batches)
        removed = sum(index.remove_batch(batch) for batch in plan.remove)
        changed = bool(plan.add or plan.remove)
        if index.deleted > rebuild_when_deleted_share * max(1, index.labels.height):
            log(f"rebuilding: {index.deleted} of {index.labels.height} entries are deleted")
            index = SpanIndex(dimension, params, generation=index.generation)
            plan = plan_sync(sources, {})
        added = 0
        for position, source in enumerate(plan.add, 1):
            table = pl.read_parquet(str(source.path), columns=["id", "combined_vec"])
            added += index.add_batch(
                source.batch,
                source.fingerprint,
                table["id"].to_list(),
                table["combined_vec"].to_numpy().astype(np.float32, copy=False),
            )
            log(f"indexed batch {position}/{len(plan.add)}: {source.batch} ({table.height} spans)")
        if changed or not (directory / "manifest.json").exists():
            save_span_index(index, directory)
    return IndexSync(
        len(index.batches),
        added,
        removed,
        index.live,
        index.deleted,
        index.generation,
        tuple(other),
    )


def sync_inverted_index(
    directory: Path, enriched_dir: Path, log: Callable[[str], None] = lambda message: None
) -> IndexSync:
    with exclusive_lock(directory / ".lock"):
        state_file = directory / "batches.json"
        indexed = json.loads(state_file.read_text()) if state_file.exists() else {}
        plan = plan_sync(batch_sources(enriched_dir), indexed)
        for batch in plan.remove:
            remove_postings(directory, batch)
            indexed.pop(batch, None)
        terms = 0
        for source in plan.add:
            postings = batch_postings(
                pl.read_parquet(str(source.path), columns=["id", "this", "if_ok", "tags"])
            )
            write_postings(directory, source.batch, postings)
            indexed[source.batch] = source.fingerprint
            terms += postings.height
            log(f"inverted index: {source.batch} ({postings.height} postings)")
        write_json_atomic(state_file, indexed)
    return IndexSync(len(indexed), terms, len(plan.remove))
