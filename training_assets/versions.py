"""What each curation step's results depend on besides its inputs, as a code version.

Dagster records the code version with every materialization, so a batch curated under
another version shows as stale in the UI, and the nightly schedule (and
`training-assets materialize --stale`) re-runs exactly the stale steps and what is
downstream of them. A step's version combines:

- CURATION_LOGIC_VERSION, bumped when a code change alters results;
- the models it uses: the embedding model for span_embeddings and enriched_spans (its
  taxonomy tags are embedding similarities), the base model's tokenizer for diamonds_plus
  (context budgets);
- its section of the project settings file (training_assets/project_settings.py): the
  enzyme list, thresholds, the gate. The file also supplies the defaults of each step's
  config, so the UI, schedules, sensors and the CLI all run with it.

Run config typed in the launchpad for one run overrides the defaults and does not change
the version: lasting changes belong in the settings file.
"""

from __future__ import annotations

import hashlib
import json

from training_assets.embedding.backends import resolve_backend
from training_assets.project_settings import project_settings
from training_assets.settings import BASE_MODEL, EMBED_BACKEND, EMBED_DEVICE, EMBED_MODEL

CURATION_LOGIC_VERSION = "2026.11.22"
_EMBED_MODEL_STEPS = ("span_embeddings", "enriched_spans")
_BASE_MODEL_STEPS = ("diamonds_plus",)


def curation_code_version(step: str) -> str:
    """The code version of one curation step (op name): logic version + a hash of the
    models and settings the step's results depend on."""
    inputs = []
    if step in _EMBED_MODEL_STEPS:
        inputs.append(EMBED_MODEL.get())
        inputs.append(resolve_backend(EMBED_BACKEND.get(), EMBED_DEVICE.get()))
    if step in _BASE_MODEL_STEPS:
        inputs.append(BASE_MODEL.get())
    section = project_settings().get(step)
    if section:
        inputs.append(json.dumps(section, sort_keys=True))
    if not inputs:
        return CURATION_LOGIC_VERSION
    digest = hashlib.sha256("|".join(inputs).encode()).hexdigest()[:8]
    return f"{CURATION_LOGIC_VERSION}+{digest}"
