"""The JSON documents of unpartitioned assets (`best_checkpoint`, `deployed_model`,
`gguf_export`, …), where the JSON IO manager keeps them: `<workspace>/<asset>.json`.

Code that is not an asset downstream of them (sensors, rotation, the demo, evaluation
reading the deployed model) reads them here, by asset name, instead of spelling paths.
"""

from __future__ import annotations

import json
from pathlib import Path


def document_path(root: Path, asset: str) -> Path:
    return Path(root) / f"{asset}.json"


def read_document(root: Path, asset: str) -> dict | None:
    """The asset's last materialized document, or None when it has none yet."""
    path = document_path(root, asset)
    return json.loads(path.read_text()) if path.exists() else None
