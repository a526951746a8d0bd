"""LoRA training runs on a tiny randomly initialised model: the run folder, the loss,
SIGKILL and resume, crash reports, config checks that fail before any work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from training_helpers import run_tiny

from training_assets.cpu import cpu_has_bf16
from training_assets.training.checkpoints import completed_checkpoints
from training_assets.training.config import TrainingConfig, TrainingConfigError, resolve_hardware


def test_a_run_writes_its_folder_and_the_loss_goes_down(tiny_model_dir, tmp_path):
    summary = run_tiny(tiny_model_dir, tmp_path / "runs")
    run_dir = Path(summary["run_dir"])
    for name in (
        "config.json",
        "metrics.jsonl",
        "summary.json",
        "base_eval.json",
        "loss_curve.png",
    ):
        assert (run_dir / name).exists(), name
    saved = json.loads((run_dir / "summary.json").read_text())
    for key in (
        "base_val_loss",
        "best_val_loss",
        "best_checkpoint",
        "train_tokens_per_second",
        "steps",
        "examples",
    ):
        assert key in saved
    assert saved["steps"] == 8 and saved["train_tokens_per_second"] > 0
    assert saved["best_val_loss"] < saved["base_val_loss"]
    assert [c.name for c in completed_checkpoints(run_dir / "checkpoints")] == [
        "step-000002",
        "step-000004",
        "step-000006",
        "step-000008",
    ]
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert len(losses) == 8 and losses[-1] < losses[0]
    assert json.loads((run_dir / "config.json").read_text())["config"]["max_steps"] == 8
    assert (run_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_sigkill_then_restart_resumes_and_ends_like_an_uninterrupted_run(tiny_model_dir, tmp_path):
    killed = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent / "training_helpers.py"),
            str(tiny_model_dir),
            str(tmp_path / "killed"),
            "5",
        ],
        capture_output=True,
        text=True,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_dir = next((tmp_path / "killed").iterdir())
    assert not (run_dir / "summary.json").exists()
    assert [c.name for c in completed_checkpoints(run_dir / "checkpoints")][-1] == "step-000004"

    resumed = run_tiny(tiny_model_dir, tmp_path / "killed")
    assert Path(resumed["run_dir"]) == run_dir and resumed["steps"] == 8
    straight = run_tiny(tiny_model_dir, tmp_path / "straight")
    last = "checkpoints/step-000008/adapter_model.safetensors"
    a, b = load_file(str(run_dir / last)), load_file(str(Path(straight["run_dir"]) / last))
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max() < 1e-6 for k in a)
    steps = [
        json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == sorted(steps) and steps[-1] == 8  # the lines after step 4 were redone once


def test_a_crash_writes_a_report_with_config_step_and_traceback(tiny_model_dir, tmp_path):
    def fail(step: int) -> None:
        if step == 3:
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        run_tiny(tiny_model_dir, tmp_path / "runs", on_step=fail)
    report = json.loads(next((tmp_path / "runs").iterdir()).joinpath("crash.json").read_text())
    assert report["step"] == 3 and "disk on fire" in report["traceback"]
    assert report["config"]["max_steps"] == 8


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"precision": "fp16", "device": "cpu"}, "fp16 needs a CUDA device"),
        ({"device": "cuda:0"}, "no CUDA device"),
        ({"lr_schedule": "wavy"}, "lr_schedule"),
        ({"max_steps": 0, "epochs": 0}, "epochs > 0 or max_steps > 0"),
        ({"target_modules": ["nonexistent_proj"]}, "not modules of this model"),
    ],
)
def test_bad_configs_fail_before_any_training(tiny_model_dir, tmp_path, overrides, message):
    if overrides.get("device", "").startswith("cuda"):
        pytest.importorskip("torch").cuda.is_available() and pytest.skip("a GPU is present")
    with pytest.raises(TrainingConfigError, match=message):
        run_tiny(tiny_model_dir, tmp_path / "runs", **overrides)
    assert not any((tmp_path / "runs").glob("*/metrics.jsonl"))


def test_auto_precision_on_cpu_is_bf16_where_the_cpu_has_it_and_fp32_stays_one_setting_away():
    config = TrainingConfig()
    config.validate()
    if resolve_hardware("auto", "auto").device.type != "cuda":
        expected = "bf16" if cpu_has_bf16() else "fp32"
        assert resolve_hardware("auto", "auto").precision == expected
        assert resolve_hardware("cpu", "bf16").autocast_dtype is not None
        assert resolve_hardware("cpu", "fp32").autocast_dtype is None


def test_bf16_training_tracks_fp32(tiny_model_dir, tmp_path):
    """The same 8 steps in fp32 and under bf16 autocast (fp32 master weights and AdamW
    state): each step's train loss and the best validation loss within 3 %."""
    fp32 = run_tiny(tiny_model_dir, tmp_path / "fp32", precision="fp32")
    bf16 = run_tiny(tiny_model_dir, tmp_path / "bf16", precision="bf16")

    def losses(summary):
        lines = (Path(summary["run_dir"]) / "metrics.jsonl").read_text().splitlines()
        return [m["loss"] for m in map(json.loads, lines) if "loss" in m]

    pairs = list(zip(losses(fp32), losses(bf16), strict=True))
    assert len(pairs) == 8 and all(abs(a - b) <= 0.03 * a for a, b in pairs), pairs
    assert abs(fp32["best_val_loss"] - bf16["best_val_loss"]) <= 0.03 * fp32["best_val_loss"]
    assert bf16["best_val_loss"] < bf16["base_val_loss"]
