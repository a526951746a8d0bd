"""Recompute a batch's kernel state from its archive alone (plus the embedding model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from training_assets.embedding.encoder import combine
from training_assets.kernel.ledger import LedgerError, batch_merkle_root, read_archive
from training_assets.kernel.state import build_kernel_state

Encode = Callable[[Sequence[str]], np.ndarray]


def rebuild_kernel_state(archive: Path, encode: Encode) -> dict:
    """The kernel state of the archived batch, its vectors embedded again (the cache
    answers for texts it still holds). Raises LedgerError if the archive's spans do not
    hash to the Merkle root its header recorded."""
    header, ledger = read_archive(archive)
    root = batch_merkle_root(ledger.spans)
    if root != header["merkle_root"]:
        raise LedgerError(
            f"{archive}: its spans hash to {root}, its header says {header['merkle_root']}"
        )
    ids = [record["id"] for record in ledger.spans]
    queries = encode([record["this"] for record in ledger.spans])
    responses = encode([record["if_ok"] for record in ledger.spans])
    vectors = combine(queries, responses) if ids else np.empty((0, 1), np.float32)
    return build_kernel_state(ledger, dict(zip(ids, vectors, strict=True)), header["created"])
