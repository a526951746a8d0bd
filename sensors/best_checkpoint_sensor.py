"""best_checkpoint_sensor: a newly evaluated, better checkpoint → one deploy run."""

import dagster as dg

from resources.policies import DeployPolicyResource, SensorIntervals
from resources.workspace import WorkspaceResource
from training_assets.deploy.decision import deploy_decision
from training_assets.documents import document_path, read_document
from training_assets.jobs import deploy_job


@dg.sensor(
    job=deploy_job,
    minimum_interval_seconds=SensorIntervals().best_checkpoint_sensor_interval,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="On each new best_checkpoint materialization (cursor: its event id), requests a "
    "deploy run when its checkpoint's golden answer-loss gain over the deployed model has a "
    "bootstrap interval above TRAINING_DEPLOY_MARGIN (default 0: the interval excludes 0) and no "
    "golden metric's interval says it regresses. run_key = run id + checkpoint, so the same "
    "checkpoint is never deployed twice.",
)
def best_checkpoint_sensor(
    context: dg.SensorEvaluationContext,
    workspace: WorkspaceResource,
    deploy_policy: DeployPolicyResource,
) -> dg.SensorResult:
    records = context.instance.fetch_materializations(
        dg.AssetKey("best_checkpoint"), limit=1
    ).records
    event = records[0] if records else None
    if event is None:
        return dg.SensorResult(skip_reason="best_checkpoint has never been materialized")
    if context.cursor and int(context.cursor) >= event.storage_id:
        return dg.SensorResult(skip_reason="no new best_checkpoint since the last tick")
    cursor = str(event.storage_id)
    best = read_document(workspace.path, "best_checkpoint")
    if best is None:
        missing = document_path(workspace.path, "best_checkpoint")
        return dg.SensorResult(skip_reason=f"{missing} is missing", cursor=cursor)
    deployed = read_document(workspace.path, "deployed_model")
    margin = deploy_policy.margin
    deploy, reason = deploy_decision(best, deployed, margin)
    context.log.info(reason)
    if not deploy:
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    request = dg.RunRequest(
        run_key=f"deploy:{best['run_id']}:{best['checkpoint']}",
        tags={"training-assets/checkpoint": f"{best['run_id']}/{best['checkpoint']}"},
    )
    return dg.SensorResult(run_requests=[request], cursor=cursor)
