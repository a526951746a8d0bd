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
) -> IndexSync:
    with exclusive_lock(directory / ".lock"):
        sources = batch_sources(embeddings_dir)
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
        len(index.batches), added, removed, index.live, index.deleted, index.generation
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
