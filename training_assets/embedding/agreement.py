"""Does a faster backend embed like fp32? Measured on a sample of every batch.

A sample of the batch's distinct texts (chosen by hash, so the same batch always gives
the same sample) is embedded again with the fp32 reference; the backend's vectors must
agree: the mean cosine between the two vectors of a text, its minimum, and the recall@10
of each text's nearest neighbours within the sample (how much of the fp32 top-10 the
backend's top-10 keeps, ties counted as hits). `agrees_with_fp32`, a blocking check on
span_embeddings, fails the run before the index below the thresholds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_MEAN_COSINE = 0.99
MIN_RECALL_AT_10 = 0.98
SAMPLE = 64


@dataclass(frozen=True)
class Agreement:
    sample: int
    mean_cosine: float
    min_cosine: float
    recall_at_10: float

    def passed(self) -> bool:
        return self.mean_cosine >= MIN_MEAN_COSINE and self.recall_at_10 >= MIN_RECALL_AT_10


def sample_texts(texts: Sequence[str], size: int = SAMPLE) -> list[str]:
    """Up to `size` distinct texts, the same ones for the same batch whatever its order."""
    distinct = {text for text in texts if text}
    digest = lambda text: hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()  # noqa: E731
    return sorted(distinct, key=digest)[:size]


def neighbour_recall(candidate: np.ndarray, reference: np.ndarray, k: int = 10) -> float:
    """Mean share of each row's reference top-k (itself excluded) that the candidate's
    top-k holds; a candidate neighbour whose reference similarity ties the k-th counts."""
    rows = len(reference)
    k = min(k, rows - 1)
    if k <= 0:
        return 1.0
    ref_sim = reference @ reference.T
    cand_sim = candidate @ candidate.T
    np.fill_diagonal(ref_sim, -np.inf)
    np.fill_diagonal(cand_sim, -np.inf)
    hits = 0
    for row in range(rows):
        kth = np.partition(ref_sim[row], -k)[-k]
        chosen = np.argpartition(cand_sim[row], -k)[-k:]
        hits += min(k, int((ref_sim[row, chosen] >= kth - 1e-6).sum()))
    return hits / (rows * k)


def agreement(candidate: np.ndarray, reference: np.ndarray) -> Agreement:
    """Agreement of row-aligned, L2-normalised vectors of the same texts."""
    cosine = (candidate.astype(np.float64) * reference.astype(np.float64)).sum(axis=1)
    return Agreement(
        sample=len(candidate),
        mean_cosine=float(cosine.mean()) if len(cosine) else 1.0,
        min_cosine=float(cosine.min()) if len(cosine) else 1.0,
        recall_at_10=neighbour_recall(candidate, reference),
    )
