"""What each curation step's results depend on besides its inputs, as a code version.

Dagster records the code version with every materialization, so a batch curated under
another version shows as stale in the UI, and the nightly schedule (and
`training-assets materialize --stale`) re-runs exactly the stale steps and what is
downstream of them. A step's version combines:

- CURATION_LOGIC_VERSION, bumped when a code change alters results;
- the models it uses: the embedding model for span_embeddings and enriched_spans (its
  taxonomy tags are embedding similarities), the base model's tokenizer for diamonds_plus
  (context budgets);
- its section of the curation settings file (TRAINING_CURATION_CONFIG, YAML): the enzyme
  list, thresholds, the gate. The file also supplies the defaults of each step's config,
  so the UI, schedules, sensors and the CLI all run with it.

Run config typed in the launchpad for one run overrides the defaults and does not change
the version: lasting changes belong in the settings file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from training_assets.embedding.backends import resolve_backend
from training_assets.settings import (
    BASE_MODEL,
    EMBED_BACKEND,
    EMBED_DEVICE,
    EMBED_MODEL,
    SettingsError,
)

CURATION_LOGIC_VERSION = "2026.11.22"
SETTINGS_ENV = "TRAINING_CURATION_CONFIG"
_EMBED_MODEL_STEPS = ("span_embeddings", "enriched_spans")
_BASE_MODEL_STEPS = ("diamonds_plus",)


@functools.cache
def _read_settings(path: str) -> dict[str, dict]:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise SettingsError(f"{SETTINGS_ENV}={path}: no such file")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{SETTINGS_ENV}={path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of step name to settings")
    for step, section in data.items():
        if not isinstance(section, dict):
            raise SettingsError(f"{path}: the settings of {step} must be a mapping")
    return data


def curation_settings() -> dict[str, dict]:
    """{step: {field: value}} from the settings file ({} when TRAINING_CURATION_CONFIG is unset)."""
    path = os.environ.get(SETTINGS_ENV)
    return _read_settings(str(Path(path).resolve())) if path else {}


def setting(step: str, field: str, default):
    """The default of one config field of a step: the settings file's value, else
    `default`; a value of another kind than `default` is a SettingsError that names it."""
    section = curation_settings().get(step, {})
    if field not in section:
        return default
    value = section[field]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    expected, fits = {
        bool: ("true or false", isinstance(value, bool)),
        int: ("a whole number", number and isinstance(value, int)),
        float: ("a number", number),
        list: (
            "a list of names",
            isinstance(value, list) and all(isinstance(v, str) for v in value),
        ),
    }.get(type(default), (type(default).__name__, isinstance(value, type(default))))
    if not fits:
        raise SettingsError(
            f"{os.environ[SETTINGS_ENV]}: {step}.{field} must be {expected}, got {value!r}"
        )
    return float(value) if isinstance(default, float) else value


def check_settings(config_classes: dict[str, type]) -> None:
    """Every step the settings file names is a configurable curation step (the keys of
    `config_classes`, read off the assets), and every field it sets exists on its
    step's dg.Config class."""
    settings = curation_settings()
    unknown = sorted(set(settings) - set(config_classes))
    if unknown:
        raise SettingsError(
            f"{os.environ[SETTINGS_ENV]}: unknown step(s) {unknown}; known: {sorted(config_classes)}"
        )
    for step, section in settings.items():
        fields = set(config_classes[step].model_fields)
        unknown = sorted(set(section) - fields)
        if unknown:
            raise SettingsError(
                f"{os.environ[SETTINGS_ENV]}: {step} has no setting(s) {unknown}; "
                f"it has {sorted(fields)}"
            )


def curation_code_version(step: str) -> str:
    """The code version of one curation step (op name): logic version + a hash of the
    models and settings the step's results depend on."""
    inputs = []
    if step in _EMBED_MODEL_STEPS:
        inputs.append(EMBED_MODEL.get())
        inputs.append(resolve_backend(EMBED_BACKEND.get(), EMBED_DEVICE.get()))
    if step in _BASE_MODEL_STEPS:
        inputs.append(BASE_MODEL.get())
    section = curation_settings().get(step)
    if section:
        inputs.append(json.dumps(section, sort_keys=True))
    if not inputs:
        return CURATION_LOGIC_VERSION
    digest = hashlib.sha256("|".join(inputs).encode()).hexdigest()[:8]
    return f"{CURATION_LOGIC_VERSION}+{digest}"
