"""The project settings file's run sections: `training`, `evaluation`, `deploy` and `loop`
set the defaults of every run (a sensor's, a schedule's, the UI's) and are checked when the
code location loads. Each case loads the code location in a fresh process, as the daemon
and `dg` do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SHOW_DEFAULTS = """
import json
from training_assets.definitions import build_resources, defs
job = defs.resolve_job_def("training_job")
ops = job.run_config_schema.config_type.fields["ops"].config_type.fields
def default(op, field):
    return ops[op].config_type.fields["config"].config_type.fields[field].default_value
resources = build_resources()
print(json.dumps({
    "max_steps": default("lora_checkpoints", "max_steps"),
    "golden_min_examples": default("training_dataset", "golden_min_examples"),
    "max_golden_examples": default("checkpoint_evals", "max_golden_examples"),
    "chrf_tolerance": default("best_checkpoint", "chrf_tolerance"),
    "outtype": defs.resolve_job_def("deploy_job").run_config_schema.config_type.fields["ops"]
        .config_type.fields["gguf_export"].config_type.fields["config"].config_type
        .fields["outtype"].default_value,
    "margin": resources["deploy_policy"].margin,
    "retrain_threshold": resources["regeneration_policy"].retrain_threshold,
    "low_data_interval": defs.resolve_sensor_def("low_data_sensor").minimum_interval_seconds,
}))
"""


def _load(settings: Path, workspace: Path, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SHOW_DEFAULTS],
        cwd=REPO,
        env={**os.environ, "TRAINING_SETTINGS": str(settings), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_run_sections_become_the_defaults_of_every_run(workspace: Path, tmp_path: Path):
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "training: {max_steps: 6, golden_min_examples: 8}\n"
        "evaluation: {max_golden_examples: 8, chrf_tolerance: 100}\n"
        "deploy: {margin: 0.01, outtype: q8_0}\n"
        "loop: {retrain_threshold: 20, low_data_sensor_interval: 15}\n"
        "diamonds_plus: {gate: 90}\n"
    )
    loaded = _load(settings, workspace)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert json.loads(loaded.stdout.splitlines()[-1]) == {
        "max_steps": 6,
        "golden_min_examples": 8,
        "max_golden_examples": 8,
        "chrf_tolerance": 100.0,
        "outtype": "q8_0",
        "margin": 0.01,
        "retrain_threshold": 20.0,
        "low_data_interval": 15,
    }
    # an environment setting still wins over the file, as the README says
    overridden = _load(settings, workspace, TRAINING_DEPLOY_MARGIN="0.5")
    assert json.loads(overridden.stdout.splitlines()[-1])["margin"] == 0.5


def test_a_bad_run_section_stops_the_load_and_names_it(workspace: Path, tmp_path: Path):
    settings = tmp_path / "settings.yaml"
    for text, message in [
        ("training: {max_stepz: 3}\n", "training has no setting(s) ['max_stepz']"),
        ("training: {batch_size: 0}\n", "training: batch_size must be positive"),
        ("evaluation: {max_golden_examples: many}\n", "evaluation.max_golden_examples must be"),
        ("deploy: {margin: lots}\n", "deploy.margin must be a number, got 'lots'"),
        ("serving: {port: 1}\n", "unknown section(s) ['serving']"),
    ]:
        settings.write_text(text)
        loaded = _load(settings, workspace)
        assert loaded.returncode != 0 and message in loaded.stderr, (text, loaded.stderr[-2000:])
