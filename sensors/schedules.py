"""nightly_curation_schedule (new or stale batches through diamonds+ and their kernel
state) and weekly_retrain_schedule."""

from dataclasses import dataclass

import dagster as dg

from resources.workspace import WorkspaceResource
from training_assets.jobs import CURATION, curation_job, training_job
from training_assets.kernel.files import archive_record
from training_assets.partitions import batch_partitions

# The last asset of a batch's curation: once it is materialized, the batch was curated.
_LAST_CURATED = dg.AssetKey("kernel_state")


@dataclass(frozen=True)
class Due:
    why: str  # "new" or "stale: diamonds_plus (2026.11.22+0a1b2c3d), …"
    assets: tuple[dg.AssetKey, ...] | None  # what to re-run; None: the whole curation


def rerun_selection(asset_graph, stale) -> tuple[dg.AssetKey, ...]:
    """The stale assets, everything of the curation downstream of them, and the other
    outputs of any multi-asset among those (its op runs whole)."""
    selected = dg.AssetSelection.assets(*stale).downstream().resolve(asset_graph)
    selected &= CURATION.resolve(asset_graph)
    whole = set()
    for key in selected:
        whole |= asset_graph.get(key).execution_set_asset_keys
    return tuple(sorted(whole, key=lambda key: key.to_user_string()))


def batches_to_curate(instance: dg.DagsterInstance, root, asset_graph) -> dict[str, Due]:
    """Live batches never curated, or with a curated table recorded under another code
    version than the code location's now (training_assets/versions.py)."""
    versioned = [
        key
        for key in CURATION.resolve(asset_graph)
        if asset_graph.get(key).partitions_def is not None and asset_graph.get(key).code_version
    ]
    due = {}
    for batch in instance.get_dynamic_partitions(batch_partitions.name):
        if archive_record(root, batch):  # rotated out: its files are gone on purpose
            continue
        if not _latest(instance, _LAST_CURATED, batch):
            due[batch] = Due("new", None)
            continue
        stale = {}
        for key in versioned:
            record = _latest(instance, key, batch)
            recorded = (
                (record.asset_materialization.tags or {}).get("dagster/code_version")
                if record
                else None
            )
            if recorded != asset_graph.get(key).code_version:
                stale[key] = recorded
        if stale:
            why = ", ".join(f"{key.to_user_string()} ({v})" for key, v in sorted(stale.items()))
            due[batch] = Due(f"stale: {why}", rerun_selection(asset_graph, stale))
    return due


def _latest(instance: dg.DagsterInstance, key: dg.AssetKey, batch: str):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[batch]), limit=1
    ).records
    return records[0] if records else None


@dg.schedule(
    cron_schedule="0 2 * * *",
    job=curation_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every night at 02:00 UTC: one curation run for each batch that was never "
    "curated, or for the stale steps (and what follows them) of a batch curated under another "
    "code version or settings (see training_assets/versions.py).",
)
def nightly_curation_schedule(
    context: dg.ScheduleEvaluationContext, workspace: WorkspaceResource
) -> list[dg.RunRequest] | dg.SkipReason:
    asset_graph = context.repository_def.asset_graph
    due = batches_to_curate(context.instance, workspace.path, asset_graph)
    if not due:
        return dg.SkipReason("every batch is curated under the current code versions")
    when = context.scheduled_execution_time
    night = f"{when:%Y-%m-%d}" if when else "now"  # a batch still due is asked for again tomorrow
    requests = []
    for batch, item in sorted(due.items()):
        selection = list(item.assets) if item.assets is not None else None
        versions = (
            ",".join(sorted({asset_graph.get(k).code_version or "" for k in (item.assets or ())}))
            or "all"
        )
        requests.append(
            dg.RunRequest(
                run_key=f"nightly:{night}:{batch}:{versions}",
                partition_key=batch,
                asset_selection=selection,
                tags={"training-assets/why": item.why[:200]},
            )
        )
    return requests


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
