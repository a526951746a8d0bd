"""span_index and inverted_index: unpartitioned, synced with every materialized batch."""

import json

import dagster as dg
import numpy as np
import polars as pl

from resources.workspace import WorkspaceResource
from training_assets.atomic import write_json_atomic
from training_assets.embedding.assets import span_embeddings
from training_assets.enrichment.assets import enriched_spans
from training_assets.indexing.hnsw import (
    HnswParams,
    SpanIndex,
    load_span_index,
    recall_at_k,
    save_span_index,
)
from training_assets.indexing.inverted import batch_postings, remove_postings, write_postings
from training_assets.indexing.sources import batch_sources, plan_sync
from training_assets.locks import exclusive_lock


class SpanIndexConfig(dg.Config):
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 100
    rebuild_when_deleted_share: float = 0.3


def _dimension(sources) -> int | None:
    for source in sources.values():
        return pl.read_parquet_schema(source.path)["combined_vec"].size
    return None


@dg.asset(
    deps=[span_embeddings],
    group_name="indexing",
    kinds={"hnswlib"},
    description="HNSW (cosine) over the combined vectors of every materialized batch. "
    "Each run adds new or changed batches and drops entries of changed or removed ones.",
)
def span_index(
    context: dg.AssetExecutionContext, config: SpanIndexConfig, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    directory = workspace.span_index_dir
    params = HnswParams(config.m, config.ef_construction, config.ef_search)
    with exclusive_lock(directory / ".lock"):
        sources = batch_sources(workspace.path / "span_embeddings")
        dimension = _dimension(sources)
        if dimension is None:
            raise dg.Failure(
                "no span_embeddings partition is materialized yet: materialize a batch first"
            )
        index = load_span_index(directory, dimension, params)
        plan = plan_sync(sources, index.batches)
        removed = sum(index.remove_batch(batch) for batch in plan.remove)
        if index.deleted > config.rebuild_when_deleted_share * max(1, index.labels.height):
            context.log.info(
                f"rebuilding: {index.deleted} of {index.labels.height} entries are deleted"
            )
            index = SpanIndex(dimension, params, generation=index.generation)
            plan = plan_sync(sources, {})
        added = 0
        for position, source in enumerate(plan.add, 1):
            table = pl.read_parquet(source.path, columns=["id", "combined_vec"])
            added += index.add_batch(
                source.batch,
                source.fingerprint,
                table["id"].to_list(),
                table["combined_vec"].to_numpy().astype(np.float32, copy=False),
            )
            context.log.info(
                f"indexed batch {position}/{len(plan.add)}: {source.batch} ({table.height} spans)"
            )
        if plan.add or plan.remove or not (directory / "manifest.json").exists():
            save_span_index(index, directory)
    return dg.MaterializeResult(
        metadata={
            "batches": len(index.batches),
            "live_spans": index.live,
            "deleted_entries": index.deleted,
            "added": added,
            "removed": removed,
            "generation": index.generation,
            "path": dg.MetadataValue.path(str(directory)),
        }
    )


@dg.asset_check(
    asset=span_index, description="HNSW recall@10 against exact search on a sample is at least 0.95"
)
def span_index_recall(workspace: WorkspaceResource) -> dg.AssetCheckResult:
    manifest = json.loads((workspace.span_index_dir / "manifest.json").read_text())
    index = load_span_index(workspace.span_index_dir, manifest["dimension"])
    recall = recall_at_k(index, sample=200, k=10)
    return dg.AssetCheckResult(
        passed=recall >= 0.95,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"recall_at_10": round(recall, 4), "sample": min(200, index.live)},
    )


@dg.asset(
    deps=[enriched_spans],
    group_name="indexing",
    kinds={"polars", "parquet"},
    description="term -> span ids (BM25 postings, one file per batch) over question, answer and tags.",
)
def inverted_index(
    context: dg.AssetExecutionContext, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    directory = workspace.inverted_index_dir
    with exclusive_lock(directory / ".lock"):
        state_file = directory / "batches.json"
        indexed = json.loads(state_file.read_text()) if state_file.exists() else {}
        plan = plan_sync(batch_sources(workspace.path / "enriched_spans"), indexed)
        for batch in plan.remove:
            remove_postings(directory, batch)
            indexed.pop(batch, None)
        terms = 0
        for source in plan.add:
            postings = batch_postings(
                pl.read_parquet(source.path, columns=["id", "this", "if_ok", "tags"])
            )
            write_postings(directory, source.batch, postings)
            indexed[source.batch] = source.fingerprint
            terms += postings.height
            context.log.info(f"inverted index: {source.batch} ({postings.height} postings)")
        write_json_atomic(state_file, indexed)
    return dg.MaterializeResult(
        metadata={
            "batches": len(indexed),
            "postings_added": terms,
            "removed": len(plan.remove),
            "path": dg.MetadataValue.path(str(directory)),
        }
    )
