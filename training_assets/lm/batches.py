"""The tensors of one micro-batch, padded or packed, with loss only on answer tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from training_assets.lm import IGNORE_INDEX

Batch = list[list[int]]  # rows of example indices; a padded row holds one example


def collate(
    batch: Batch,
    input_ids: Sequence[Sequence[int]],
    prompt_tokens: Sequence[int],
    pad_id: int,
    packed: bool,
) -> dict[str, torch.Tensor | int]:
    """Tensors for one micro-batch.

    Padded: one row per example, right-padded, with `attention_mask`. Packed: all the
    micro-batch's examples back to back in one row, no padding, with `position_ids`
    restarting at each example and `cu_seq_lens_q/k` (+ `max_length_q/k`) marking the
    examples, as varlen attention kernels take them (see packed_attention.py).
    """
    if packed:
        examples = [index for row in batch for index in row]
        ids, labels, positions, bounds = [], [], [], [0]
        for index in examples:
            tokens = list(input_ids[index])
            ids += tokens
            labels += [IGNORE_INDEX] * prompt_tokens[index] + tokens[prompt_tokens[index] :]
            positions += range(len(tokens))
            bounds.append(len(ids))
        cu_seq_lens = torch.tensor(bounds, dtype=torch.int32)
        longest = max(len(input_ids[index]) for index in examples)
        return {
            "input_ids": torch.tensor([ids]),
            "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions]),
            "cu_seq_lens_q": cu_seq_lens,
            "cu_seq_lens_k": cu_seq_lens,
            "max_length_q": longest,
            "max_length_k": longest,
        }
    rows = [list(input_ids[row[0]]) for row in batch]
    width = max(len(ids) for ids in rows)
    return {
        "input_ids": torch.tensor([ids + [pad_id] * (width - len(ids)) for ids in rows]),
        "labels": torch.tensor(
            [
                [IGNORE_INDEX] * prompt_tokens[row[0]]
                + ids[prompt_tokens[row[0]] :]
                + [IGNORE_INDEX] * (width - len(ids))
                for row, ids in zip(batch, rows, strict=True)
            ]
        ),
        "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in rows]),
    }
