"""rotation_job: archive, verify and purge the oldest batches; each rotated batch is
recorded as a materialization of `batch_archive[batch]`, so the asset history keeps what
was purged and where its archive is after the batch's own files are gone."""

import dagster as dg

from resources.policies import RotationBudgetResource
from resources.workspace import WorkspaceResource
from training_assets.kernel.assets import kernel_state
from training_assets.locks import exclusive_lock
from training_assets.partitions import batch_partitions
from training_assets.rotation.rotate import ARCHIVE_DIR, rotate
from training_assets.rotation.usage import BudgetError, human, workspace_usage

batch_archive = dg.AssetSpec(
    "batch_archive",
    partitions_def=batch_partitions,
    deps=[kernel_state, "diamonds_plus", "span_quarantine"],
    group_name="rotation",
    kinds={"json"},
    description="The batch's ledger in `$TRAINING_WORKSPACE/archives/ledger-<batch>-<date>.jsonl.gz`, "
    "verified against its kernel state's Merkle root, after which its tables were purged. "
    "Materialized by rotation_job.",
)


class RotationConfig(dg.Config):
    force: bool = False  # rotate every candidate, whatever the usage
    limit: int = 0  # at most this many batches (0: no limit)


@dg.op(description="Rotate the oldest batches until the workspace is under its target usage.")
def rotate_workspace(
    context: dg.OpExecutionContext,
    config: RotationConfig,
    workspace: WorkspaceResource,
    rotation_budget: RotationBudgetResource,
) -> None:
    try:
        budget = rotation_budget.get()
    except BudgetError as error:
        raise dg.Failure(str(error)) from error
    root = workspace.path
    workspace.require_local_tables("rotation_job")
    before = workspace_usage(root)
    context.log.info(
        f"workspace {human(before.total)} of {human(budget.bytes)} "
        f"({before.share_of(budget):.0%}); target {budget.target:.0%}"
    )
    with exclusive_lock(root / ARCHIVE_DIR / ".rotation.lock"):  # never two at once
        rotated = rotate(
            root, budget, context.log.info, force=config.force, limit=config.limit or None
        )
    for item in rotated:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=batch_archive.key,
                partition=item.batch,
                metadata={
                    "archive": dg.MetadataValue.path(str(root / item.archive["path"])),
                    "archive_bytes": item.archive["bytes"],
                    "ledger_lines": item.archive["ledger_lines"],
                    "merkle_root": item.archive["merkle_root"],
                    "purged_files": dg.MetadataValue.json(item.purge.files),
                    "purged_landing_files": dg.MetadataValue.json(item.purge.landing_files),
                    "bytes_freed": item.purge.bytes_freed,
                    "cache_entries_removed": item.purge.cache_entries,
                    "index_entries_removed": item.purge.index_entries_removed,
                    "seconds": round(item.seconds, 2),
                },
            )
        )
    after = workspace_usage(root)
    context.log.info(
        f"rotated {len(rotated)} batch(es): {human(before.total)} → {human(after.total)}"
    )


@dg.job(
    description="Archive → verify → purge the oldest fully processed batches that the "
    "deployed model's lineage does not need, until the workspace is under its target."
)
def rotation_job() -> None:
    rotate_workspace()
