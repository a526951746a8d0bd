"""One LoRA run's folder, `$TRAINING_WORKSPACE/runs/<run_id>/`: the only code that spells
its file names. The training loop writes it; evaluation, the assets and rotation read it
through this type, as peft's `save_pretrained` and `from_pretrained` mirror each other.

    config.json      the run's config, data and base-model fingerprints, hardware
    base_eval.json   the base model's validation loss, per example
    metrics.jsonl    one line per optimizer step (and per evaluation)
    checkpoints/     step-NNNNNN/ adapters with their optimizer state (checkpoints.py)
    crash.json       what stopped an unfinished run, if anything did
    summary.json     written last: the run is finished (and the batches it trained on)
    loss_curve.png   train and validation loss against the base
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def base_eval_file(self) -> Path:
        return self.path / "base_eval.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def crash_file(self) -> Path:
        return self.path / "crash.json"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def loss_curve_file(self) -> Path:
        return self.path / "loss_curve.png"

    @property
    def finished(self) -> bool:
        return self.summary_file.exists()

    def read_config(self) -> dict:
        return json.loads(self.config_file.read_text())

    def read_base_eval(self) -> dict:
        return json.loads(self.base_eval_file.read_text())

    def read_summary(self) -> dict | None:
        return json.loads(self.summary_file.read_text()) if self.finished else None

    def read_metrics(self) -> list[dict]:
        if not self.metrics_file.exists():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line]

    def checkpoint(self, name: str) -> Path:
        return self.checkpoints_dir / name

    @classmethod
    def of_checkpoint(cls, checkpoint: Path) -> RunFolder | None:
        """The run a checkpoint folder belongs to (`<run>/checkpoints/<name>`), if any."""
        for folder in (checkpoint, *checkpoint.parents):
            run = cls(folder)
            if run.summary_file.exists() or run.config_file.exists():
                return run
        return None


def find_unfinished_run(runs_dir: Path, digest: str) -> RunFolder | None:
    """The newest run with this exact config and data that has no summary yet."""
    if not runs_dir.is_dir():
        return None
    candidates = []
    for folder in runs_dir.iterdir():
        run = RunFolder(folder)
        if not run.config_file.exists() or run.finished:
            continue
        if run.read_config().get("digest") == digest:
            candidates.append(run)
    return max(candidates, key=lambda run: run.run_id, default=None)
