"""A stand-in Ollama server for tests: it checks what the real one checks on the deploy
path (blob digests recomputed from the body, `sha256:<64 hex>` digest format, the model
name, every file in `files` uploaded first) and answers in the same shapes."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class FakeOllama:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.models: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path))
                if self.path == "/api/version":
                    self._json(200, {"version": "0.0.0-fake"})
                else:
                    self._json(404, {"error": "not found"})

            def do_HEAD(self) -> None:
                server.requests.append(("HEAD", self.path))
                digest = self.path.removeprefix("/api/blobs/")
                self.send_response(200 if digest in server.blobs else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                server.requests.append(("POST", self.path))
                if self.path.startswith("/api/blobs/"):
                    digest = self.path.removeprefix("/api/blobs/")
                    data = self._body()
                    if not _DIGEST.match(digest):
                        return self._json(400, {"error": "invalid digest format"})
                    actual = "sha256:" + hashlib.sha256(data).hexdigest()
                    if actual != digest:
                        return self._json(
                            400, {"error": f"digest mismatch, expected {digest!r}, got {actual!r}"}
                        )
                    server.blobs[digest] = data
                    return self._json(201, {})
                if self.path == "/api/create":
                    try:
                        request = json.loads(self._body() or b"null")
                    except ValueError:
                        return self._json(400, {"error": "invalid JSON"})
                    if not isinstance(request, dict):
                        return self._json(400, {"error": "missing request body"})
                    name = request.get("model") or request.get("name")
                    if not name or not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9._:/-]*$", name):
                        return self._json(400, {"error": "invalid model name"})
                    files = request.get("files") or {}
                    if not files and not request.get("from"):
                        return self._json(
                            400, {"error": "neither 'from' nor 'files' was specified"}
                        )
                    for file_name, digest in files.items():
                        if "/" in file_name or ".." in file_name:
                            return self._json(400, {"error": "file path must be relative"})
                        if not _DIGEST.match(digest):
                            return self._json(400, {"error": "invalid digest format"})
                    missing = [d for d in files.values() if d not in server.blobs]
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.end_headers()
                    lines = [{"status": "parsing GGUF"}]
                    if missing:
                        lines.append({"error": f"blob {missing[0]} not found"})
                    else:
                        lines += [{"status": f"using existing layer {d}"} for d in files.values()]
                        lines += [{"status": "writing manifest"}, {"status": "success"}]
                        server.models[name] = request
                    self.wfile.write(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
                    return None
                return self._json(404, {"error": "not found"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeOllama:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
