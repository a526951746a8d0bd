"""low_data_sensor: too few fresh training examples → one regeneration run (with a
cooldown); enough of them → one retrain; enough new negative judgements in the feedback
store → one preference run (with the same cooldown)."""

import hashlib
import json
import time

import dagster as dg

from resources.feedback import FeedbackResource
from resources.policies import RegenerationPolicyResource, SensorIntervals
from resources.workspace import WorkspaceResource
from training_assets.feedback.freshness import fresh_examples, new_negative_feedback
from training_assets.feedback.store import FeedbackStoreError
from training_assets.jobs import preference_job, regeneration_job, training_job
from training_assets.partitions import batch_partitions


@dg.sensor(
    jobs=[regeneration_job, training_job, preference_job],
    minimum_interval_seconds=SensorIntervals().low_data_sensor_interval,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Counts fresh training examples (diamonds+ of batches no training run used). "
    "Under TRAINING_LOW_DATA_THRESHOLD (500) it requests regeneration_job (feedback export, "
    "synthetic spans) at most once per TRAINING_REGENERATION_COOLDOWN seconds (6 h); at "
    "TRAINING_RETRAIN_THRESHOLD (2000) or more it requests training_job once per set of "
    "fresh batches. At TRAINING_PREFERENCE_THRESHOLD (200) negative judgements no preference "
    "run has learned from, it requests preference_job (once per newest interaction, at most "
    "once per cooldown), when there is a best SFT checkpoint to start from.",
)
def low_data_sensor(
    context: dg.SensorEvaluationContext,
    workspace: WorkspaceResource,
    feedback: FeedbackResource,
    regeneration_policy: RegenerationPolicyResource,
) -> dg.SensorResult | dg.SkipReason:
    cursor = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    requests, reasons = [], []
    preference = _preference_request(workspace, feedback, regeneration_policy, cursor, now)
    if isinstance(preference, dg.RunRequest):
        requests.append(preference)
        cursor = cursor | {"last_preference": now}
    elif preference:
        reasons.append(preference)
    batches = context.instance.get_dynamic_partitions(batch_partitions.name)
    fresh, fresh_batches = fresh_examples(workspace.path, batches, workspace.tables)
    low = regeneration_policy.low_data_threshold
    retrain_at = regeneration_policy.retrain_threshold
    cooldown = regeneration_policy.cooldown_seconds
    if fresh >= retrain_at:
        digest = hashlib.sha256("\n".join(fresh_batches).encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"retrain:{digest}",
                job_name=training_job.name,
                tags={"fresh_examples": str(fresh)},
            )
        )
    elif fresh >= low:
        reasons.append(f"{fresh} fresh examples: enough, not yet {retrain_at:.0f} to retrain")
    elif (waited := now - cursor.get("last_regeneration", 0.0)) < cooldown:
        reasons.append(
            f"{fresh} fresh examples (< {low:.0f}), but the last regeneration was "
            f"{waited:.0f}s ago (cooldown {cooldown:.0f}s)"
        )
    else:
        requests.append(
            dg.RunRequest(
                run_key=f"regenerate:{int(now)}",
                job_name=regeneration_job.name,
                tags={"fresh_examples": str(fresh)},
            )
        )
        cursor = cursor | {"last_regeneration": now}
    if not requests:
        return dg.SkipReason("; ".join(reasons))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor))


def _preference_request(workspace, feedback, policy, cursor: dict, now: float):
    """A preference RunRequest, a reason not to, or None when there is nothing to say."""
    try:
        with feedback.open() as store:
            negative, newest = new_negative_feedback(store, workspace.path / "runs")
    except FeedbackStoreError:
        return None  # no store yet: nobody has judged anything
    threshold = policy.preference_threshold
    if negative < threshold:
        return f"{negative} new negative judgements (a preference run at {threshold:.0f})"
    if not (workspace.path / "best_checkpoint.json").exists():
        return f"{negative} new negative judgements, but no SFT checkpoint to start from yet"
    waited = now - cursor.get("last_preference", 0.0)
    if waited < policy.cooldown_seconds:
        return f"{negative} new negative judgements; the last preference run was asked {waited:.0f}s ago"
    return dg.RunRequest(
        run_key=f"preference:{newest}",
        job_name=preference_job.name,
        tags={"new_negative_feedback": str(negative)},
    )
