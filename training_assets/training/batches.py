"""Micro-batches for training: an epoch's order from (seed, epoch) alone, so a resumed run
sees exactly the batches an uninterrupted one would.

Padded mode groups examples of similar length (sorted inside windows of 50 batches, then
the batches shuffled), which wastes far less compute on padding than random batches.
Packed mode fills rows of `max_seq_len` tokens with several examples (best fit,
longest first) and a micro-batch of such rows becomes one unpadded row with the examples'
boundaries, so packed examples never attend to each other (packed_attention.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from training_assets.lm.batches import Batch

_SORT_WINDOW_BATCHES = 50


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(count)


def padded_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[Batch]:
    order = epoch_order(len(lengths), seed, epoch)
    window = batch_size * _SORT_WINDOW_BATCHES
    batches = []
    for start in range(0, len(order), window):
        part = sorted(order[start : start + window].tolist(), key=lambda i: lengths[i])
        batches += [
            [[i] for i in part[k : k + batch_size]] for k in range(0, len(part), batch_size)
        ]
    shuffled = np.random.default_rng([seed, epoch, 1]).permutation(len(batches))
    return [batches[i] for i in shuffled]


def pack_rows(lengths: Sequence[int], order: Sequence[int], max_seq_len: int) -> list[list[int]]:
    """Best-fit decreasing: each example, longest first, goes into the row it fills best."""
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (space left, row number), sorted
    for index in sorted(order, key=lambda i: -lengths[i]):
        need = lengths[index]
        slot = bisect.bisect_left(free, (need, -1))
        if slot == len(free):
            rows.append([index])
            bisect.insort(free, (max_seq_len - need, len(rows) - 1))
            continue
        space, row = free.pop(slot)
        rows[row].append(index)
        bisect.insort(free, (space - need, row))
    return rows


def packed_batches(
    lengths: Sequence[int], max_seq_len: int, batch_size: int, seed: int, epoch: int
) -> list[Batch]:
    rows = pack_rows(lengths, epoch_order(len(lengths), seed, epoch).tolist(), max_seq_len)
    shuffled = np.random.default_rng([seed, epoch, 1]).permutation(len(rows))
    rows = [rows[i] for i in shuffled]
    return [rows[k : k + batch_size] for k in range(0, len(rows), batch_size)]


def real_tokens(batch: Batch, lengths: Sequence[int]) -> int:
    return sum(lengths[i] for row in batch for i in row)
