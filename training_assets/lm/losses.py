"""Answer-token loss per example: the summed negative log-likelihood of the tokens training
puts loss on, kept per example so two models can be compared example by example; the
mean over a set is token-weighted (sum of losses / sum of tokens), perplexity its exp."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from training_assets.lm.batches import IGNORE_INDEX, collate
from training_assets.lm.hardware import autocast_for


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


class AnswerNLL(torch.nn.Module):
    """`answer_nll` as a module: DistributedDataParallel must run the whole forward
    (body and head apart, as answer_nll does) to sync the gradients it makes."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor):
        return answer_nll(self.model, inputs, labels)
