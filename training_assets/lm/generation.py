"""Greedy answers to tokenized chat prompts, batched and padded on the left."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, or its end-of-sequence id when it has none."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


@dataclass(frozen=True)
class Generation:
    text: str
    stopped: bool  # the model ended its turn (an end-of-turn token) within the budget
    new_tokens: int


@torch.no_grad()
def generate_answers(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    device: torch.device,
    batch_size: int = 8,
) -> list[Generation]:
    """Greedy answers to tokenized chat prompts (batched, padded on the left)."""
    was_training = model.training
    model.eval()
    stop_ids = {tokenizer.eos_token_id} | set(_as_list(model.generation_config.eos_token_id))
    stop_ids.discard(None)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stop_ids)
    answers = []
    for start in range(0, len(prompts), batch_size):
        chunk = [list(p) for p in prompts[start : start + batch_size]]
        width = max(len(p) for p in chunk)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device)
        output = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=sorted(stop_ids),
            pad_token_id=pad_id,
        )
        for row in output[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in stop_ids), None)
            kept = row if cut is None else row[:cut]
            answers.append(
                Generation(
                    tokenizer.decode(kept, skip_special_tokens=True).strip(),
                    cut is not None,
                    len(kept),
                )
            )
    model.train(was_training)
    return answers


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
