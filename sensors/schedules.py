"""nightly_curation_schedule (new or stale batches through diamonds+ and their kernel
state) and weekly_retrain_schedule."""

import dagster as dg

from resources.workspace import WorkspaceResource
from training_assets.jobs import curation_job, training_job
from training_assets.kernel.files import archive_record
from training_assets.partitions import batch_partitions
from training_assets.versions import curation_code_version

# The last asset of a batch's curation: once it is materialized under the current code
# version, so is everything before it in the same run.
_LAST_CURATED = dg.AssetKey("kernel_state")


def batches_to_curate(instance: dg.DagsterInstance, root, version: str) -> dict[str, str]:
    """{batch: "new" | "stale (<old version>)"} for live batches not curated under `version`."""
    due = {}
    for key in instance.get_dynamic_partitions(batch_partitions.name):
        if archive_record(root, key):  # rotated out: its files are gone on purpose
            continue
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=_LAST_CURATED, asset_partitions=[key]), limit=1
        ).records
        if not records:
            due[key] = "new"
            continue
        tags = records[0].event_log_entry.asset_materialization.tags or {}
        recorded = tags.get("dagster/code_version")
        if recorded != version:
            due[key] = f"stale ({recorded})"
    return due


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=curation_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every night at 02:00 UTC: one curation run for each batch that was never "
    "curated, or was curated under another code version (see training_assets/versions.py).",
)
def nightly_curation_schedule(
    context: dg.ScheduleEvaluationContext, workspace: WorkspaceResource
) -> list[dg.RunRequest] | dg.SkipReason:
    version = curation_code_version()
    due = batches_to_curate(context.instance, workspace.path, version)
    if not due:
        return dg.SkipReason(f"every batch is curated under {version}")
    return [
        dg.RunRequest(
            run_key=f"nightly:{key}:{version}",
            partition_key=key,
            tags={"training-assets/why": why},
        )
        for key, why in sorted(due.items())
    ]


@dg.schedule(
    cron_schedule="0 4 * * 0",
    job=training_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays at 04:00 UTC: a training run on every diamonds+ batch; "
    "best_checkpoint_sensor deploys the result if it is better.",
)
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    when = context.scheduled_execution_time
    return dg.RunRequest(run_key=f"weekly:{when:%Y-%m-%d}" if when else None)
