"""What an evaluation measures: answer-token loss per example, greedy answers, and how
close an answer is to its reference (token F1, chrF via sacrebleu).

Loss is the summed negative log-likelihood of the answer tokens (the ones training puts
loss on), kept per example so two models can be compared example by example; the mean
over a set is token-weighted (sum of losses / sum of tokens), and perplexity is its exp.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training_assets.training.batches import collate
from training_assets.training.dataset import IGNORE_INDEX


@dataclass(frozen=True)
class ExampleLoss:
    id: str
    loss_sum: float
    tokens: int


def mean_loss(losses: Sequence[ExampleLoss]) -> float:
    tokens = sum(item.tokens for item in losses)
    return sum(item.loss_sum for item in losses) / tokens if tokens else float("nan")


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))


def autocast_for(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _split_head(model):
    """(transformer body, output head) of a causal LM, or None when the head is not a
    plain projection (soft-capped or scaled logits) and the full forward is needed."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = causal.config
    if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
        return None
    body = getattr(causal, causal.base_model_prefix, None)
    head = causal.get_output_embeddings()
    return (body, head) if body is not None and head is not None else None


def answer_nll(model, inputs: dict[str, torch.Tensor], labels: torch.Tensor):
    """Negative log-likelihood of every answer token, and the row it belongs to.

    The output head runs only at positions whose next token carries a label: with
    SmolLM2's 49k-token vocabulary the head and its softmax are a large share of a
    small model's compute, and prompt tokens (no loss) need neither.
    """
    target = labels[:, 1:]
    keep = target != IGNORE_INDEX
    rows = keep.nonzero()[:, 0]
    split = _split_head(model)
    if split is None:
        logits = model(**inputs, use_cache=False).logits[:, :-1][keep]
    else:
        body, head = split
        hidden = body(**inputs, use_cache=False).last_hidden_state[:, :-1][keep]
        logits = head(hidden)
    return F.cross_entropy(logits.float(), target[keep], reduction="none"), rows


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, or its end-of-sequence id when it has none."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


@torch.no_grad()
def example_losses(
    model,
    ids: Sequence[str],
    input_ids: Sequence[Sequence[int]],
    prompt_tokens: Sequence[int],
    pad_id: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
    batch_size: int = 4,
) -> list[ExampleLoss]:
    was_training = model.training
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: len(input_ids[i]))
    results: dict[int, ExampleLoss] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = collate([[i] for i in chunk], input_ids, prompt_tokens, pad_id, packed=False)
        labels = batch.pop("labels").to(device)
        with autocast_for(device, autocast_dtype):
            nll, rows = answer_nll(model, {k: v.to(device) for k, v in batch.items()}, labels)
        sums = torch.zeros(len(chunk), dtype=torch.float64).index_add_(
            0, rows.cpu(), nll.double().cpu()
        )
        counted = torch.bincount(rows.cpu(), minlength=len(chunk))
        for row, index in enumerate(chunk):
            results[index] = ExampleLoss(ids[index], float(sums[row]), int(counted[row]))
    model.train(was_training)
    return [results[i] for i in range(len(ids))]


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


_WORD = re.compile(r"\w+", re.UNICODE)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 over lower-cased word tokens, 0–1."""
    predicted = Counter(_WORD.findall(prediction.lower()))
    expected = Counter(_WORD.findall(reference.lower()))
    if not predicted or not expected:
        return float(predicted == expected)
    overlap = sum((predicted & expected).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(predicted.values())
    recall = overlap / sum(expected.values())
    return 2 * precision * recall / (precision + recall)


def chrf(prediction: str, reference: str) -> float:
    """Character n-gram F-score (sacrebleu's chrF), 0–100."""
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(prediction, [reference]).score
