"""The code version of the curation assets: what a batch's curated tables depend on
besides its data. Dagster records it with every materialization, so a batch curated under
another version shows as stale in the UI and the nightly schedule curates it again.

Bump CURATION_LOGIC_VERSION when a change to validation, embedding, enrichment,
enzymes, scoring or the gate changes results; the models the curation uses (embedding
model, the base model's tokenizer for the enzymes) are part of the version on their own.
"""

from __future__ import annotations

import hashlib
import os

CURATION_LOGIC_VERSION = "2026.11.22"


def curation_code_version() -> str:
    models = "|".join(
        (
            os.environ.get("TRAINING_EMBED_MODEL", "bundled:all-MiniLM-L6-v2"),
            os.environ.get("TRAINING_BASE_MODEL", "bundled:smollm2-135m-instruct"),
        )
    )
    return f"{CURATION_LOGIC_VERSION}+{hashlib.sha256(models.encode()).hexdigest()[:8]}"
