"""The project settings file: a team's lasting choices, in one YAML file.

`TRAINING_SETTINGS=settings.yaml` (the older name `TRAINING_CURATION_CONFIG` still works).
Each top-level key is a section:

- a curation step's op name (`validated_spans`, `diamonds_plus`, …): the defaults of that
  step's config, and part of its code version (training_assets/versions.py);
- `training`: the config of `training_dataset` and `lora_checkpoints`;
- `evaluation`: the config of `checkpoint_evals` and `best_checkpoint`;
- `deploy`: the config of `gguf_export` and `ollama_modelfile`, and `margin` (the deploy
  policy);
- `loop`: the thresholds and tick intervals of the sensors that run the loop alone.

The file supplies defaults, so every run takes them: from the UI, the CLI, a schedule or
a sensor. Config typed for one run overrides them. It is read once per process and checked
when the code location loads (`check_settings`): an unknown section or field, or a value of
the wrong kind, stops the load with a message that names it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from training_assets.settings import SettingsError

SETTINGS_ENV = "TRAINING_SETTINGS"
OLD_SETTINGS_ENV = "TRAINING_CURATION_CONFIG"
# the sections that are not a curation step, and what each one sets
RUN_SECTIONS = ("training", "evaluation", "deploy", "loop")


def settings_path() -> str | None:
    """The settings file named by the environment, or None."""
    return os.environ.get(SETTINGS_ENV) or os.environ.get(OLD_SETTINGS_ENV) or None


@functools.cache
def _read(path: str) -> dict[str, dict]:
    import yaml

    file = Path(path)
    if not file.is_file():
        raise SettingsError(f"settings file {path}: no such file")
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"settings file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: expected a mapping of section name to settings")
    for name, section in data.items():
        if not isinstance(section, dict):
            raise SettingsError(f"{path}: the settings of {name} must be a mapping")
    return data


def project_settings() -> dict[str, dict]:
    """{section: {field: value}} from the settings file ({} when none is named)."""
    path = settings_path()
    return _read(str(Path(path).resolve())) if path else {}


def _kind(default) -> tuple[str, object]:
    if default is None:  # an optional text
        return "text or null", lambda v: v is None or isinstance(v, str)
    number = lambda v: isinstance(v, int | float) and not isinstance(v, bool)  # noqa: E731
    return {
        bool: ("true or false", lambda v: isinstance(v, bool)),
        int: ("a whole number", lambda v: number(v) and isinstance(v, int)),
        float: ("a number", number),
        list: (
            "a list of names",
            lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        ),
    }.get(type(default), (type(default).__name__, lambda v: isinstance(v, type(default))))


def setting(section: str, field: str, default):
    """One field's default: the settings file's value, else `default`; a value of another
    kind than `default` is a SettingsError that names it."""
    values = project_settings().get(section, {})
    if field not in values:
        return default
    value = values[field]
    expected, fits = _kind(default)
    if not fits(value):
        raise SettingsError(
            f"{settings_path()}: {section}.{field} must be {expected}, got {value!r}"
        )
    return float(value) if isinstance(default, float) else value


def section_setter(section: str):
    """`setting` bound to one section: `from_file = section_setter("training")`."""
    return functools.partial(setting, section)


def check_settings(sections: dict[str, tuple[type, ...]]) -> None:
    """Every section the file names is known (`sections`: name -> the pydantic classes
    whose fields it may set), every field exists on one of them, and every value has the
    field's kind."""
    settings = project_settings()
    unknown = sorted(set(settings) - set(sections))
    if unknown:
        raise SettingsError(
            f"{settings_path()}: unknown section(s) {unknown}; known: {sorted(sections)}"
        )
    for name, values in settings.items():
        fields = {f: c for c in sections[name] for f in c.model_fields}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise SettingsError(
                f"{settings_path()}: {name} has no setting(s) {unknown}; it has {sorted(fields)}"
            )
        for field, owner in fields.items():
            if field in values:
                info = owner.model_fields[field]
                setting(name, field, info.default)
