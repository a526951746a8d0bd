"""The Ollama server a deploy pushes to (OLLAMA_HOST, as the ollama CLI reads it)."""

from __future__ import annotations

import dagster as dg

from training_assets.deploy.ollama_client import OllamaClient


class OllamaResource(dg.ConfigurableResource):
    host: str = "127.0.0.1:11434"
    timeout_seconds: float = 600.0

    def client(self) -> OllamaClient:
        return OllamaClient(self.host, self.timeout_seconds)
