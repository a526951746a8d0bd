"""Does the deployed GGUF answer as the model did? Greedy answers of llama.cpp against
transformers', prompt by prompt.

Two ways into llama.cpp (llama-cpp-python, the optional `.[llama]` extra):

- `llama_cpp_answers`: the prompt rendered by the tokenizer's `apply_chat_template`,
  its token ids fed to llama.cpp as they are;
- `server_chat_answers`: llama-cpp-python's OpenAI-compatible server started on the
  file, asked through `/v1/chat/completions` with the messages only, so the chat
  template is the one written into the GGUF.

`compare` sets each pair of token sequences side by side: identical or not, the common
prefix and the first divergence. Used by the slow test and by
`benchmarks/llama_cpp_parity.py`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Agreement:
    identical: bool
    common_prefix: int
    expected_tokens: int
    got_tokens: int

    @property
    def first_divergence(self) -> int | None:
        return None if self.identical else self.common_prefix


def compare(expected: Sequence[int], got: Sequence[int]) -> Agreement:
    prefix = 0
    for a, b in zip(expected, got, strict=False):
        if a != b:
            break
        prefix += 1
    return Agreement(list(expected) == list(got), prefix, len(expected), len(got))


def summarise(agreements: list[Agreement]) -> dict:
    prefixes = sorted(a.common_prefix for a in agreements)
    divergences = sorted(a.first_divergence for a in agreements if not a.identical)
    return {
        "prompts": len(agreements),
        "identical": sum(a.identical for a in agreements),
        "identical_share": sum(a.identical for a in agreements) / max(len(agreements), 1),
        "median_common_prefix": prefixes[len(prefixes) // 2] if prefixes else 0,
        "first_divergences": divergences,
    }


def transformers_answers(
    model, stop_ids: set[int], prompts, max_new_tokens: int
) -> list[list[int]]:
    """Greedy answers one prompt at a time (no padding), cut at the first stop token."""
    import torch

    answers = []
    with torch.no_grad():
        for prompt in prompts:
            output = model.generate(
                torch.tensor([list(prompt)]),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=sorted(stop_ids),
            )[0, len(prompt) :].tolist()
            answers.append(_cut(output, stop_ids))
    return answers


def llama_cpp_answers(
    gguf: Path, stop_ids: set[int], prompts, max_new_tokens: int, n_ctx: int = 2048
) -> list[list[int]]:
    """Greedy answers of llama.cpp fed the same token ids, cut at the first stop token."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, verbose=False, seed=0)
    answers = []
    for prompt in prompts:
        llm.reset()
        got = []
        for token in llm.generate(list(prompt), top_k=1, temp=0.0, repeat_penalty=1.0):
            if token in stop_ids or len(got) == max_new_tokens:
                break
            got.append(token)
        answers.append(got)
    return answers


def _cut(tokens: list[int], stop_ids: set[int]) -> list[int]:
    cut = next((i for i, t in enumerate(tokens) if t in stop_ids), None)
    return tokens if cut is None else tokens[:cut]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve_gguf(gguf: Path, n_ctx: int = 2048) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on `gguf` (its chat template is the
    file's own), on a free local port; yields the base URL, stops it on exit."""
    import requests

    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--seed",
        "0",
    ]
    base = f"http://127.0.0.1:{port}"
    # llama.cpp logs a lot: into a file, never an unread pipe (a full pipe stalls it)
    with tempfile.TemporaryFile() as log:

        def log_tail() -> str:
            log.seek(0)
            return log.read().decode(errors="replace")[-2000:]

        server = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"llama_cpp.server exited: {log_tail()}")
                try:
                    if requests.get(f"{base}/v1/models", timeout=2).ok:
                        break
                except requests.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server gave no answer in 120 s: {log_tail()}")
                time.sleep(0.5)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def chat_answers(base: str, conversations: list[list[dict]], max_new_tokens: int) -> list[str]:
    """Greedy answers of an OpenAI-compatible server, one request per conversation."""
    import requests

    answers = []
    for messages in conversations:
        response = requests.post(
            f"{base}/v1/chat/completions",
            json={
                "messages": messages,
                "max_tokens": max_new_tokens,
                "temperature": 0.0,
                "top_k": 1,
                "repeat_penalty": 1.0,
                "seed": 0,
            },
            timeout=600,
        )
        response.raise_for_status()
        answers.append(response.json()["choices"][0]["message"]["content"] or "")
    return answers


def server_chat_answers(
    gguf: Path, conversations: list[list[dict]], max_new_tokens: int, n_ctx: int = 2048
) -> list[str]:
    """Greedy answers of llama-cpp-python's server on `gguf` through its chat endpoint."""
    with serve_gguf(gguf, n_ctx) as base:
        return chat_answers(base, conversations, max_new_tokens)
