"""Where things live (DAGSTER_HOME, TRAINING_WORKSPACE) and every environment setting.

Each setting is one `Setting`: its name, its default and the one parser that reads it;
a value it cannot use is a `SettingsError` that names the variable and the value. They
are read when resources are built (`definitions.build_resources`, at each load of the
code location) or a command runs. The README lists them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

DEFAULT_DAGSTER_HOME = "./dagster_home"
DEFAULT_WORKSPACE = "./workspace"
INSTANCE_TEMPLATE = Path(__file__).resolve().parent.parent / "dagster_home" / "dagster.yaml"


def ensure_dagster_home() -> Path:
    """Point DAGSTER_HOME at ./dagster_home unless the environment names one.

    Dagster falls back to a throwaway in-memory instance when DAGSTER_HOME is unset, and
    runs, partitions and history then vanish with the process; this never lets that
    happen silently.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and INSTANCE_TEMPLATE.exists() and INSTANCE_TEMPLATE.resolve() != config:
        config.write_text(INSTANCE_TEMPLATE.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def ensure_workspace() -> Path:
    root = Path(os.environ.get("TRAINING_WORKSPACE") or DEFAULT_WORKSPACE).resolve()
    root.mkdir(parents=True, exist_ok=True)
    os.environ["TRAINING_WORKSPACE"] = str(root)
    return root


class SettingsError(ValueError):
    """An environment setting with a value the project cannot use."""


T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment setting: its name, its default and the one parser that reads it."""

    name: str
    default: T
    parse: Callable[[str], T] = str  # type: ignore[assignment]
    expected: str = "text"

    def get(self, fallback: T | None = None) -> T:
        """The environment's value, else `fallback` (the settings file's), else the default."""
        raw = os.environ.get(self.name)
        if raw is None or raw.strip() == "":
            return self.default if fallback is None else fallback
        try:
            return self.parse(raw.strip())
        except (ValueError, TypeError):
            raise SettingsError(f"{self.name} must be {self.expected}, got {raw!r}") from None


def positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def non_negative_number(raw: str) -> float:
    value = float(raw)
    if not value >= 0:  # NaN too
        raise ValueError(raw)
    return value


def fraction(raw: str) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError(raw)
    return value


def integer_setting(name: str, default: int) -> Setting[int]:
    return Setting(name, default, positive_int, "a positive integer")


def number_setting(name: str, default: float) -> Setting[float]:
    return Setting(name, default, non_negative_number, "a number ≥ 0")


# models (any Hugging Face id or local path; `bundled:` names the packaged ones)
EMBED_MODEL = Setting("TRAINING_EMBED_MODEL", "bundled:all-MiniLM-L6-v2")
EMBED_DEVICE = Setting("TRAINING_EMBED_DEVICE", "cpu")
EMBED_BATCH_SIZE = integer_setting("TRAINING_EMBED_BATCH_SIZE", 16)
# torch-fp32 | torch-bf16 | torch-fp16 | auto (bf16 on CPUs with bf16 units, fp16 on CUDA)
EMBED_BACKEND = Setting("TRAINING_EMBED_BACKEND", "auto")
BASE_MODEL = Setting("TRAINING_BASE_MODEL", "bundled:smollm2-135m-instruct")
# where things are kept and reached
TABLES_ROOT = Setting("TRAINING_TABLES_ROOT", "")
FEEDBACK_DB = Setting("TRAINING_FEEDBACK_DB", "")  # empty: <workspace>/feedback.db
OLLAMA_HOST = Setting("OLLAMA_HOST", "127.0.0.1:11434")
# experiment tracking: an MLflow tracking URI (empty: sqlite:///<workspace>/mlflow.db, or
# MLflow's own MLFLOW_TRACKING_URI when set; `off`: no tracking) and the experiment's name
MLFLOW_URI = Setting("TRAINING_MLFLOW_URI", "")
MLFLOW_EXPERIMENT = Setting("TRAINING_MLFLOW_EXPERIMENT", "training-assets")
# the workspace budget and rotation (sizes like 200MB, 10GB, 1.5GiB)
WORKSPACE_BUDGET = Setting("TRAINING_WORKSPACE_BUDGET", "10GB")
ROTATION_THRESHOLD = Setting("TRAINING_ROTATION_THRESHOLD", 0.95, fraction, "a fraction in (0, 1]")
# a rotation frees space down to this share of the budget, so one rotation makes room for
# several batches instead of running again after the next one
ROTATION_TARGET = Setting("TRAINING_ROTATION_TARGET", 0.80, fraction, "a fraction in (0, 1]")
# the loop that runs alone: regeneration, retraining, deploy
LOW_DATA_THRESHOLD = number_setting("TRAINING_LOW_DATA_THRESHOLD", 500)
RETRAIN_THRESHOLD = number_setting("TRAINING_RETRAIN_THRESHOLD", 2000)
REGENERATION_COOLDOWN = number_setting("TRAINING_REGENERATION_COOLDOWN", 6 * 3600)
DEPLOY_MARGIN = number_setting("TRAINING_DEPLOY_MARGIN", 0.0)
# new negative judgements in the feedback store at which low_data_sensor asks for a
# preference run (DPO/KTO from the best SFT checkpoint)
PREFERENCE_THRESHOLD = number_setting("TRAINING_PREFERENCE_THRESHOLD", 200)
