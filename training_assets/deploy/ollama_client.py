"""A small client for the parts of Ollama's HTTP API a deploy needs.

Blobs go up by content address (`HEAD` then `POST /api/blobs/sha256:<hex>`; the server
recomputes the digest and refuses a mismatch), then `POST /api/create` names the model
and maps file names to those digests, with the template, system prompt and parameters
as JSON fields (no Modelfile parsing on that path). The create call streams JSON status
lines; any `error` line fails the deploy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PORT = 11434


class OllamaError(RuntimeError):
    pass


class OllamaUnreachable(OllamaError):
    pass


def normalize_host(host: str) -> str:
    """OLLAMA_HOST as Ollama reads it: `host`, `host:port` or a URL; http and 11434 by default."""
    host = host.strip() or "127.0.0.1"
    if "://" not in host:
        host = "http://" + host
    parts = urlsplit(host)
    hostname = parts.hostname or "127.0.0.1"
    if hostname == "0.0.0.0":
        hostname = "127.0.0.1"
    port = parts.port or DEFAULT_PORT
    return f"{parts.scheme}://{hostname}:{port}{parts.path.rstrip('/')}"


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


class OllamaClient:
    def __init__(self, host: str, timeout: float = 600.0) -> None:
        self.base = normalize_host(host)
        self.timeout = timeout

    def _request(self, method: str, path: str, **kwargs):
        import requests

        try:
            return requests.request(method, self.base + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as error:
            raise OllamaUnreachable(f"no Ollama server answers at {self.base}") from error

    def version(self) -> str:
        response = self._request("GET", "/api/version")
        response.raise_for_status()
        return response.json().get("version", "")

    def push_blob(self, path: Path) -> str:
        digest = file_digest(path)
        if self._request("HEAD", f"/api/blobs/{digest}").status_code == 200:
            return digest
        with open(path, "rb") as handle:
            response = self._request("POST", f"/api/blobs/{digest}", data=handle)
        if response.status_code not in (200, 201):
            raise OllamaError(
                f"uploading {path.name} failed ({response.status_code}): {_error_of(response)}"
            )
        return digest

    def create(
        self,
        model: str,
        files: dict[str, str],
        template: str,
        system: str | None,
        parameters: dict,
        on_status: Callable[[str], None] = lambda status: None,
    ) -> list[dict]:
        body = {
            "model": model,
            "files": files,
            "template": template,
            "parameters": parameters,
            "stream": True,
        }
        if system:
            body["system"] = system
        response = self._request("POST", "/api/create", json=body, stream=True)
        if response.status_code != 200:
            raise OllamaError(
                f"creating {model} failed ({response.status_code}): {_error_of(response)}"
            )
        statuses = []
        for line in response.iter_lines():
            if not line:
                continue
            status = json.loads(line)
            if "error" in status:
                raise OllamaError(f"creating {model} failed: {status['error']}")
            statuses.append(status)
            on_status(status.get("status", ""))
        if not statuses or statuses[-1].get("status") != "success":
            raise OllamaError(f"creating {model} ended without success: {statuses[-1:]}")
        return statuses


def _error_of(response) -> str:
    try:
        return response.json().get("error", response.text)
    except ValueError:
        return response.text[:500]
