"""feedback_spans: well-rated interactions from the feedback store, landed as a batch."""

import dagster as dg

from resources.feedback import FeedbackResource
from resources.workspace import WorkspaceResource
from training_assets.feedback.export import DEFAULT_MIN_SCORE, export_feedback
from training_assets.feedback.store import FeedbackStoreError
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
