"""best_checkpoint_sensor: a newly evaluated, better checkpoint → one deploy run."""

import json
import os

import dagster as dg

from resources.workspace import WorkspaceResource
from training_assets.deploy.decision import deploy_decision
from training_assets.jobs import deploy_job


@dg.asset_sensor(
    asset_key=dg.AssetKey("best_checkpoint"),
    job=deploy_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="On each new best_checkpoint materialization (the asset sensor's cursor), "
    "requests a deploy run when its checkpoint beats the deployed model's validation loss by "
    "more than TRAINING_DEPLOY_MARGIN (default 0.01) without a golden-set regression. "
    "run_key = run id + checkpoint, so the same checkpoint is never deployed twice.",
)
def best_checkpoint_sensor(
    context: dg.SensorEvaluationContext,
    asset_event: dg.EventLogEntry,
    workspace: WorkspaceResource,
):
    best_file = workspace.path / "best_checkpoint.json"
    if not best_file.exists():
        return dg.SkipReason(f"{best_file} is missing")
    best = json.loads(best_file.read_text())
    deployed_file = workspace.path / "deployed_model.json"
    deployed = json.loads(deployed_file.read_text()) if deployed_file.exists() else None
    margin = float(os.environ.get("TRAINING_DEPLOY_MARGIN", "0.01"))
    deploy, reason = deploy_decision(best, deployed, margin)
    context.log.info(reason)
    if not deploy:
        return dg.SkipReason(reason)
    return dg.RunRequest(
        run_key=f"deploy:{best['run_id']}:{best['checkpoint']}",
        tags={"training-assets/checkpoint": f"{best['run_id']}/{best['checkpoint']}"},
    )
