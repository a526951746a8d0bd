"""Where things live: DAGSTER_HOME and TRAINING_WORKSPACE, with the project's defaults."""

from __future__ import annotations

import os
from pathlib import Path

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


def env_positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(f"{name} must be a positive integer, got {raw!r}")
    return value
