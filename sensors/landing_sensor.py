"""landing_sensor: files in landing/ become batch partitions and curation runs."""

import json

import dagster as dg

from resources.policies import SensorIntervals
from resources.workspace import WorkspaceResource
from training_assets.ingestion.formats import FormatError
from training_assets.ingestion.landing import adopt_file, iter_manifests, unregistered_files
from training_assets.jobs import curation_job
from training_assets.partitions import batch_partitions


def _load_cursor(raw: str | None) -> dict:
    cursor = json.loads(raw) if raw else {}
    return {"done": cursor.get("done", []), "rejected": cursor.get("rejected", {})}


@dg.sensor(
    job=curation_job,
    minimum_interval_seconds=SensorIntervals().landing_sensor_interval,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Adopts files dropped into landing/ by hand (renamed to their content "
    "address), registers each landed file's batches and requests one curation run per batch.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, workspace: WorkspaceResource
) -> dg.SensorResult:
    cursor = _load_cursor(context.cursor)
    for path in unregistered_files(workspace.landing, workspace.landing_settle_seconds):
        stat = path.stat()
        signature = f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"
        if signature in cursor["rejected"]:
            continue
        try:
            landed, _ = adopt_file(
                path, workspace.landing, workspace.batch_size, workspace.max_record_bytes
            )
            context.log.info(
                f"adopted {path.name} as {landed.landed_name}: {len(landed.batches)} batch(es)"
            )
        except (FormatError, OSError) as exc:
            cursor["rejected"][signature] = str(exc)
            context.log.error(f"left {path.name} untouched in landing/: {exc}")

    done = set(cursor["done"])
    known = set(context.instance.get_dynamic_partitions(batch_partitions.name))
    new_keys: list[str] = []
    run_requests: list[dg.RunRequest] = []
    for manifest in iter_manifests(workspace.landing):
        if manifest.sha256 in done:
            continue
        new_keys += [key for key in manifest.keys if key not in known]
        run_requests += [dg.RunRequest(run_key=key, partition_key=key) for key in manifest.keys]
        done.add(manifest.sha256)
    cursor["done"] = sorted(done)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[batch_partitions.build_add_request(new_keys)]
        if new_keys
        else [],
        cursor=json.dumps(cursor, sort_keys=True),
    )
