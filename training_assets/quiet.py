"""Library progress bars and known noise off by default; `TRAINING_VERBOSE=1` (or the
CLI's `--verbose`) brings them back.

Set as environment defaults when the package is imported, so the Dagster step processes
and every child inherit them: tqdm reads `TQDM_DISABLE` (transformers' "Loading
weights", "Converting and de-quantizing GGUF tensors", datasets' maps), Hugging Face Hub
reads `HF_HUB_DISABLE_PROGRESS_BARS`. A value the user set stays.
"""

from __future__ import annotations

import os
import warnings

_QUIET_ENVIRONMENT = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # "Creating initial MLflow database tables..."
}
# warnings that say nothing a user can act on
_NOISE = (
    r".*is_gradient_checkpointing.*",  # transformers 5 asks peft to rename a call
    r".*backfill_policy.*",  # Dagster marks backfill policies beta
    r".*Parameter `owners` of initializer `SensorDefinition.*",
)


def verbose() -> bool:
    return os.environ.get("TRAINING_VERBOSE", "").strip().lower() in ("1", "true", "yes")


def quiet_libraries() -> None:
    if verbose():
        return
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)


def be_verbose() -> None:
    """Turn the bars back on for this process and its children (before tqdm loads)."""
    os.environ["TRAINING_VERBOSE"] = "1"
    for name, value in _QUIET_ENVIRONMENT.items():
        if os.environ.get(name) == value:
            del os.environ[name]
