"""The base LLM as a resource: bundled SmolLM2 by default, any HF id or local path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from training_assets.base_model.locate import (
    BUNDLED_BASE_MODEL,
    ModelLocation,
    load_causal_lm,
    load_tokenizer,
    locate_base_model,
)


class BaseModelResource(dg.ConfigurableResource):
    """`model`: 'bundled:smollm2-135m-instruct', a local directory or .gguf file, or a
    Hugging Face id already in the local cache. `cache_dir` keeps converted tokenizers."""

    model: str = BUNDLED_BASE_MODEL
    cache_dir: str

    _tokenizer: object | None = PrivateAttr(default=None)

    def location(self) -> ModelLocation:
        return locate_base_model(self.model)

    def tokenizer(self):
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.location(), Path(self.cache_dir))
        return self._tokenizer

    def token_counter(self) -> Callable[[str], int]:
        tokenizer = self.tokenizer()
        return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def causal_lm(self):
        """A fresh fp32 copy of the model (training wraps it, so it is never shared)."""
        return load_causal_lm(self.location(), Path(self.cache_dir))
