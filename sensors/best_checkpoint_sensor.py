"""best_checkpoint_sensor: a newly evaluated, better checkpoint → one deploy run."""

import json
import os

import dagster as dg

from resources.workspace import WorkspaceResource
from training_assets.deploy.decision import deploy_decision
from training_assets.jobs import deploy_job


@dg.sensor(
    job=deploy_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="On each new best_checkpoint materialization (cursor: its event id), requests a "
    "deploy run when its checkpoint beats the deployed model's validation loss by more than "
    "TRAINING_DEPLOY_MARGIN (default 0.01) without a golden-set regression. run_key = run id + "
    "checkpoint, so the same checkpoint is never deployed twice.",
)
def best_checkpoint_sensor(
    context: dg.SensorEvaluationContext, workspace: WorkspaceResource
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
    best_file = workspace.path / "best_checkpoint.json"
    if not best_file.exists():
        return dg.SensorResult(skip_reason=f"{best_file} is missing", cursor=cursor)
    best = json.loads(best_file.read_text())
    deployed_file = workspace.path / "deployed_model.json"
    deployed = json.loads(deployed_file.read_text()) if deployed_file.exists() else None
    margin = float(os.environ.get("TRAINING_DEPLOY_MARGIN", "0.01"))
    deploy, reason = deploy_decision(best, deployed, margin)
    context.log.info(reason)
    if not deploy:
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    request = dg.RunRequest(
        run_key=f"deploy:{best['run_id']}:{best['checkpoint']}",
        tags={"training-assets/checkpoint": f"{best['run_id']}/{best['checkpoint']}"},
    )
    return dg.SensorResult(run_requests=[request], cursor=cursor)
