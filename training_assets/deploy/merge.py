"""Merge a LoRA checkpoint into its base, and check an exported GGUF against the merge."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from training_assets.deploy.gguf_export import LlamaShape

# An exported F16 GGUF, read back by transformers, must give next-token logits within
# this of the merged model in memory (F16 rounding of weights; Q8_0 gets the looser one).
LOGIT_TOLERANCE = {"f16": 0.05, "q8_0": 0.5}


def merge_checkpoint(base_model, checkpoint: Path):
    from peft import PeftModel

    return PeftModel.from_pretrained(base_model, str(checkpoint)).merge_and_unload().eval()


def llama_shape(config) -> LlamaShape:
    return LlamaShape(
        config.num_attention_heads, config.num_key_value_heads, config.num_hidden_layers
    )


def lora_alpha(checkpoint: Path) -> float:
    return float(json.loads((checkpoint / "adapter_config.json").read_text())["lora_alpha"])


@dataclass(frozen=True)
class LogitAgreement:
    max_abs_diff: float
    tolerance: float
    same_top1: bool

    @property
    def ok(self) -> bool:
        return self.same_top1 and self.max_abs_diff <= self.tolerance


def load_gguf_model(gguf_path: Path):
    """The exported file read back by transformers (dequantized), as a user's tools would."""
    from transformers import AutoModelForCausalLM

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return AutoModelForCausalLM.from_pretrained(
        str(gguf_path.parent), gguf_file=gguf_path.name
    ).eval()


@torch.no_grad()
def logit_agreement(merged, reloaded, prompt_ids: list[int], outtype: str) -> LogitAgreement:
    """Next-token logits of the merged model and of its GGUF read back, on one prompt."""
    ids = torch.tensor([prompt_ids])
    expected = merged(ids.to(merged.device)).logits[0, -1].float().cpu()
    got = reloaded(ids.to(reloaded.device)).logits[0, -1].float().cpu()
    return LogitAgreement(
        float((expected - got).abs().max()),
        LOGIT_TOLERANCE[outtype],
        int(expected.argmax()) == int(got.argmax()),
    )
