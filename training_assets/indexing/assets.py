"""span_index and inverted_index: unpartitioned, synced with every materialized batch."""

import dagster as dg

from resources.embedder import EmbedderResource
from resources.workspace import WorkspaceResource
from training_assets.embedding.assets import span_embeddings
from training_assets.embedding.encoder import model_fingerprint
from training_assets.enrichment.assets import enriched_spans
from training_assets.indexing.hnsw import HnswParams, open_span_index, recall_at_k
from training_assets.indexing.sync import NothingToIndex, sync_inverted_index, sync_span_index
from training_assets.project_settings import setting


class SpanIndexConfig(dg.Config):
    m: int = setting("span_index", "m", 16)
    ef_construction: int = setting("span_index", "ef_construction", 200)
    ef_search: int = setting("span_index", "ef_search", 100)
    rebuild_when_deleted_share: float = setting("span_index", "rebuild_when_deleted_share", 0.3)


@dg.asset(
    deps=[span_embeddings],
    group_name="indexing",
    kinds={"hnswlib"},
    description="HNSW (cosine) over the combined vectors of every materialized batch. "
    "Each run adds new or changed batches and drops entries of changed or removed ones.",
)
def span_index(
    context: dg.AssetExecutionContext,
    config: SpanIndexConfig,
    workspace: WorkspaceResource,
    embedder: EmbedderResource,
) -> dg.MaterializeResult:
    current = embedder.get()
    try:
        result = sync_span_index(
            workspace.span_index_dir,
            workspace.table_dir("span_embeddings"),
            HnswParams(config.m, config.ef_construction, config.ef_search),
            config.rebuild_when_deleted_share,
            context.log.info,
            embedder=current.fingerprint,
            legacy_embedder=model_fingerprint(current.model_name, current.max_seq_length),
        )
    except NothingToIndex as error:
        raise dg.Failure(str(error)) from error
    return dg.MaterializeResult(
        metadata={
            "batches": result.batches,
            "live_spans": result.live,
            "deleted_entries": result.deleted,
            "added": result.added,
            "removed": result.removed,
            "generation": result.generation,
            "embedder": current.fingerprint,
            "batches_of_another_embedder": dg.MetadataValue.json(list(result.other_embedder)),
            "path": dg.MetadataValue.path(str(workspace.span_index_dir)),
        }
    )


@dg.asset_check(
    asset=span_index, description="HNSW recall@10 against exact search on a sample is at least 0.95"
)
def span_index_recall(workspace: WorkspaceResource) -> dg.AssetCheckResult:
    index = open_span_index(workspace.span_index_dir)
    if index is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "no span index saved"})
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
    result = sync_inverted_index(
        workspace.inverted_index_dir,
        workspace.table_dir("enriched_spans"),
        context.log.info,
    )
    return dg.MaterializeResult(
        metadata={
            "batches": result.batches,
            "postings_added": result.added,
            "removed": result.removed,
            "path": dg.MetadataValue.path(str(workspace.inverted_index_dir)),
        }
    )
