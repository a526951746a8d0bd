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


def stop_token_ids(model, tokenizer) -> set[int]:
    """The ids that end a turn: the tokenizer's end-of-sequence and the model's
    generation-config end tokens."""
    stop_ids = {tokenizer.eos_token_id} | set(_as_list(model.generation_config.eos_token_id))
    stop_ids.discard(None)
    return stop_ids


def answer_budgets(reference_tokens: Sequence[int], cap: int) -> list[int]:
    """New-token budgets that fit each reference answer: its length plus a quarter (at
    least 16 tokens) of slack, never above `cap`. A reference longer than `cap` cannot
    end within its budget; its stop is not counted."""
    return [min(cap, n + max(16, n // 4)) for n in reference_tokens]


@torch.no_grad()
def generate_answers(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int | Sequence[int],
    device: torch.device,
    batch_size: int = 8,
) -> list[Generation]:
    """Greedy answers to tokenized chat prompts, batched and padded on the left.

    `max_new_tokens` is one budget or one per prompt; prompts are batched by budget (and
    length), so a batch generates no longer than its longest budget, and each answer is
    cut at its own."""
    was_training = model.training
    model.eval()
    stop_ids = stop_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stop_ids)
    budgets = (
        [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
    )
    order = sorted(range(len(prompts)), key=lambda i: (budgets[i], len(prompts[i])))
    answers: dict[int, Generation] = {}
    for start in range(0, len(order), batch_size):
        indexes = order[start : start + batch_size]
        chunk = [list(prompts[i]) for i in indexes]
        width = max(len(p) for p in chunk)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=device)
        output = model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=max(budgets[i] for i in indexes),
            do_sample=False,
            eos_token_id=sorted(stop_ids),
            pad_token_id=pad_id,
        )
        for index, row in zip(indexes, output[:, width:].tolist(), strict=True):
            row = row[: budgets[index]]
            cut = next((i for i, t in enumerate(row) if t in stop_ids), None)
            kept = row if cut is None else row[:cut]
            answers[index] = Generation(
                tokenizer.decode(kept, skip_special_tokens=True).strip(),
                cut is not None,
                len(kept),
            )
    model.train(was_training)
    return [answers[i] for i in range(len(prompts))]


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
