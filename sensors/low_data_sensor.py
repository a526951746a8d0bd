"""low_data_sensor: too few fresh training examples → one regeneration run (with a
cooldown); enough of them → one retrain."""

import hashlib
import json
import time

import dagster as dg

from resources.policies import RegenerationPolicyResource, SensorIntervals
from resources.workspace import WorkspaceResource
from training_assets.feedback.freshness import fresh_examples
from training_assets.jobs import regeneration_job, training_job
from training_assets.partitions import batch_partitions


@dg.sensor(
    jobs=[regeneration_job, training_job],
    minimum_interval_seconds=SensorIntervals().low_data_sensor_interval,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Counts fresh training examples (diamonds+ of batches no training run used). "
    "Under TRAINING_LOW_DATA_THRESHOLD (500) it requests regeneration_job (feedback export, "
    "synthetic spans) at most once per TRAINING_REGENERATION_COOLDOWN seconds (6 h); at "
    "TRAINING_RETRAIN_THRESHOLD (2000) or more it requests training_job once per set of "
    "fresh batches.",
)
def low_data_sensor(
    context: dg.SensorEvaluationContext,
    workspace: WorkspaceResource,
    regeneration_policy: RegenerationPolicyResource,
) -> dg.SensorResult | dg.SkipReason:
    low = regeneration_policy.low_data_threshold
    retrain_at = regeneration_policy.retrain_threshold
    cooldown = regeneration_policy.cooldown_seconds
    cursor = json.loads(context.cursor) if context.cursor else {}
    batches = context.instance.get_dynamic_partitions(batch_partitions.name)
    fresh, fresh_batches = fresh_examples(workspace.path, batches, workspace.tables)
    if fresh >= retrain_at:
        digest = hashlib.sha256("\n".join(fresh_batches).encode()).hexdigest()[:16]
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"retrain:{digest}",
                    job_name=training_job.name,
                    tags={"fresh_examples": str(fresh)},
                )
            ],
            cursor=json.dumps(cursor),
        )
    if fresh >= low:
        return dg.SkipReason(f"{fresh} fresh examples: enough, not yet {retrain_at:.0f} to retrain")
    now = time.time()
    waited = now - cursor.get("last_regeneration", 0.0)
    if waited < cooldown:
        return dg.SkipReason(
            f"{fresh} fresh examples (< {low:.0f}), but the last regeneration was "
            f"{waited:.0f}s ago (cooldown {cooldown:.0f}s)"
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"regenerate:{int(now)}",
                job_name=regeneration_job.name,
                tags={"fresh_examples": str(fresh)},
            )
        ],
        cursor=json.dumps(cursor | {"last_regeneration": now}),
    )
