"""feedback_spans (well-rated interactions) and synthetic_spans (the best model's answers for
under-represented domains): both land span files and register them as batches.

torch-based helpers are imported inside the assets: see evaluation/assets.py.
"""

import dagster as dg

from resources.base_model import BaseModelResource
from resources.embedder import EmbedderResource
from resources.feedback import FeedbackResource
from resources.workspace import WorkspaceResource
from training_assets.feedback.export import DEFAULT_MIN_SCORE, export_feedback, land_spans
from training_assets.feedback.store import FeedbackStoreError
from training_assets.feedback.synthetic import (
    DEFAULT_CAP,
    DEFAULT_NEAR_DUPLICATE,
    DEFAULT_QUALITY,
    answer_prompts,
    pick_prompts,
    synthetic_span,
    under_represented_domains,
)
from training_assets.partitions import batch_partitions


class FeedbackSpansConfig(dg.Config):
    min_score: float = DEFAULT_MIN_SCORE


@dg.asset(
    group_name="feedback",
    kinds={"sqlite"},
    description="Interactions scored ≥ min_score (default 3 of 5) not yet exported, written as "
    "span NDJSON into landing/ and registered as batch partitions, so they go through the "
    "same validation, redaction and gate as any data. Exported rows are marked.",
)
def feedback_spans(
    context: dg.AssetExecutionContext,
    config: FeedbackSpansConfig,
    feedback: FeedbackResource,
    workspace: WorkspaceResource,
) -> dg.MaterializeResult:
    try:
        store = feedback.open()
    except FeedbackStoreError as error:
        raise dg.Failure(str(error)) from error
    with store:
        landed, ids = export_feedback(store, workspace.landing, config.min_score)
    if landed is None:
        context.log.info("no new interactions to export")
        return dg.MaterializeResult(metadata={"exported": 0, "partitions": []})
    context.instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    return dg.MaterializeResult(
        metadata={
            "exported": len(ids),
            "landed_file": landed.landed_name,
            "partitions": dg.MetadataValue.json(landed.keys),
            "min_score": config.min_score,
        }
    )


class SyntheticSpansConfig(dg.Config):
    cap: int = DEFAULT_CAP  # answers generated per run, at most
    max_new_tokens: int = 256
    starting_quality: float = DEFAULT_QUALITY
    near_duplicate_similarity: float = DEFAULT_NEAR_DUPLICATE
    seed: int = 0


@dg.asset(
    deps=["global_kernel_state", "best_checkpoint"],
    group_name="feedback",
    kinds={"pytorch", "hnswlib"},
    description="The best checkpoint answers questions drawn from the diamonds+ of the domains "
    "the global kernel state finds under-represented; answers cut off at max_new_tokens or "
    "nearly repeating indexed data are dropped, the rest land as spans (origin=synthetic, starting quality 80) and are "
    "registered as a batch, to face the same validation and gate as any data.",
)
def synthetic_spans(
    context: dg.AssetExecutionContext,
    config: SyntheticSpansConfig,
    base_model: BaseModelResource,
    embedder: EmbedderResource,
    workspace: WorkspaceResource,
) -> dg.MaterializeResult:
    import json
    from datetime import UTC, datetime

    import polars as pl

    from training_assets.documents import read_document

    root = workspace.path
    best, kernel_file = read_document(root, "best_checkpoint"), root / "kernel" / "global.json"
    if best is None or not kernel_file.exists():
        raise dg.Failure("synthetic_spans needs best_checkpoint and global_kernel_state first")
    if best.get("path") is None:
        raise dg.Failure("best_checkpoint names no checkpoint: no model to generate with")
    domains = under_represented_domains(json.loads(kernel_file.read_text()))
    tables = [
        workspace.table_path("diamonds_plus", key)
        for key in context.instance.get_dynamic_partitions(batch_partitions.name)
    ]
    rows = pl.concat(
        [pl.read_parquet(str(p), columns=["id", "this", "tags"]) for p in tables if p.exists()]
        or [pl.DataFrame(schema={"id": pl.String, "this": pl.String, "tags": pl.List(pl.String)})]
    ).to_dicts()
    prompts = pick_prompts(rows, domains, config.cap, config.seed)
    if not prompts:
        context.log.info(f"no diamonds+ tagged with an under-represented domain ({domains})")
        return dg.MaterializeResult(metadata={"generated": 0, "domains": domains})
    answered = answer_prompts(
        prompts,
        best["path"],
        base_model,
        embedder.get(),
        workspace.span_index_dir,
        config.max_new_tokens,
        config.near_duplicate_similarity,
    )
    texts, dropped, unfinished = answered.texts, answered.near_duplicate, answered.unfinished
    generation_seconds = answered.seconds
    model_version = f"{best['run_id']}/{best['checkpoint']}"
    now = datetime.now(UTC)
    spans = [
        synthetic_span(p, t, model_version, config.starting_quality, now)
        for p, t, skip in zip(prompts, texts, dropped | unfinished, strict=True)
        if not skip
    ]
    metadata = {
        "generated": len(prompts),
        "near_duplicates_dropped": int(dropped.sum()),
        "unfinished_dropped": int((unfinished & ~dropped).sum()),
        "kept": len(spans),
        "generation_seconds": round(generation_seconds, 1),
        "spans_per_minute": round(60 * len(prompts) / generation_seconds, 1),
        "domains": dg.MetadataValue.json(domains),
        "model_version": model_version,
    }
    if spans:
        landed = land_spans(spans, workspace.landing, f"synthetic-{now:%Y%m%dT%H%M%S}.jsonl")
        context.instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
        metadata |= {
            "landed_file": landed.landed_name,
            "partitions": dg.MetadataValue.json(landed.keys),
        }
    context.log.info(
        f"{len(prompts)} answers in {generation_seconds:.0f}s; kept {len(spans)}, "
        f"{int(dropped.sum())} near-duplicates dropped"
    )
    return dg.MaterializeResult(metadata=metadata)
