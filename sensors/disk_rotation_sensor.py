"""disk_rotation_sensor: over the rotation threshold, request one rotation run."""

import dagster as dg

from resources.policies import RotationBudgetResource, SensorIntervals
from resources.workspace import WorkspaceResource
from training_assets.rotation.assets import rotation_job
from training_assets.rotation.rotate import rotation_candidates, unfinished_purges
from training_assets.rotation.usage import human, workspace_usage

_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    job=rotation_job,
    minimum_interval_seconds=SensorIntervals().disk_rotation_sensor_interval,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Checks the workspace's disk usage against TRAINING_WORKSPACE_BUDGET; above "
    "TRAINING_ROTATION_THRESHOLD (95 %) it requests one rotation run, never a second while "
    "one is queued or running.",
)
def disk_rotation_sensor(
    context: dg.SensorEvaluationContext,
    workspace: WorkspaceResource,
    rotation_budget: RotationBudgetResource,
) -> dg.SensorResult | dg.SkipReason:
    budget = rotation_budget.get()
    usage = workspace_usage(workspace.path)
    share = usage.share_of(budget)
    status = f"{human(usage.total)} of {human(budget.bytes)} ({share:.0%})"
    if share < budget.threshold:
        return dg.SkipReason(f"{status}: under the {budget.threshold:.0%} threshold")
    in_flight = context.instance.get_run_records(
        dg.RunsFilter(job_name=rotation_job.name, statuses=_IN_FLIGHT), limit=1
    )
    if in_flight:
        return dg.SkipReason(f"{status}: rotation run {in_flight[0].dagster_run.run_id} in flight")
    if not (rotation_candidates(workspace.path) or unfinished_purges(workspace.path)):
        return dg.SkipReason(
            f"{status}, but no batch can rotate (none fully processed, or all protected "
            "by the deployed model's lineage): `training-assets workspace` shows what holds the space"
        )
    count = int(context.cursor or 0) + 1
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"rotation-{count}", tags={"usage": status})],
        cursor=str(count),
    )
