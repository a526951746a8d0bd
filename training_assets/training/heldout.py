"""Held-out means held out: which validation and golden examples have a near-duplicate in
train, and so measure memory instead of generalisation.

Whole threads already fall on one side (the split hashes the thread id, `dataset.py`).
Across threads, a held-out example is *contaminated* when

1. `same_prompt`: its question, normalised (case, spacing, punctuation), is a train
   example's question;
2. `ngram`: it shares a run of `NGRAM` words (question or answer) with a train example,
   the decontamination rule of GPT-3 and its successors (13 words);
3. `cosine`: its span vector (span_embeddings' combined vector, the index's own) has a
   train span within `COSINE`.

A contaminated example moves to train (it is good training data; it is a poor test).
The n-gram test hashes word-id windows with numpy, so it stays linear in the words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

NGRAM = 13
COSINE = 0.95
_WORD = re.compile(r"\w+", re.UNICODE)
_BASE = np.uint64(1_000_003)


def normalised(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _window_hashes(words: list[int], n: int) -> np.ndarray:
    """A 64-bit hash of every run of `n` word ids (polynomial, wrapping)."""
    if len(words) < n:
        return np.empty(0, dtype=np.uint64)
    ids = np.asarray(words, dtype=np.uint64) + np.uint64(1)
    hashes = np.zeros(len(words) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            hashes = hashes * _BASE + ids[k : len(words) - n + 1 + k]
    return hashes


class _Vocabulary(dict):
    def ids(self, text: str) -> list[int]:
        return [self.setdefault(w, len(self)) for w in _WORD.findall(text.lower())]


def _text(span: Mapping) -> str:
    return f"{span.get('this') or ''}\n{span.get('if_ok') or ''}"


def contaminated(
    heldout: Sequence[Mapping],
    train: Sequence[Mapping],
    vectors: Mapping[str, np.ndarray] | None = None,
    ngram: int = NGRAM,
    cosine: float = COSINE,
) -> dict[str, str]:
    """id -> reason (`same_prompt`, `ngram`, `cosine`) of each held-out span that has a
    near-duplicate among the train spans; the first rule that matches names it."""
    found: dict[str, str] = {}
    if not heldout or not train:
        return found
    prompts = {normalised(s.get("this") or "") for s in train}
    prompts.discard("")
    for span in heldout:
        if normalised(span.get("this") or "") in prompts:
            found[span["id"]] = "same_prompt"
    vocabulary = _Vocabulary()
    train_windows = np.unique(
        np.concatenate([_window_hashes(vocabulary.ids(_text(s)), ngram) for s in train])
    )
    for span in heldout:
        if span["id"] in found:
            continue
        windows = _window_hashes(vocabulary.ids(_text(span)), ngram)
        if windows.size and np.isin(windows, train_windows, assume_unique=False).any():
            found[span["id"]] = "ngram"
    if vectors:
        for span_id in _close_in_vectors(
            [s["id"] for s in heldout if s["id"] not in found],
            [s["id"] for s in train],
            vectors,
            cosine,
        ):
            found[span_id] = "cosine"
    return found


def _close_in_vectors(
    heldout_ids: list[str],
    train_ids: list[str],
    vectors: Mapping[str, np.ndarray],
    cosine: float,
    chunk: int = 1024,
) -> list[str]:
    """Held-out ids whose unit vector has a train vector at cosine ≥ `cosine` (exact, in
    chunks of held-out rows)."""
    heldout_ids = [i for i in heldout_ids if i in vectors]
    train_matrix = [vectors[i] for i in train_ids if i in vectors]
    if not heldout_ids or not train_matrix:
        return []
    train_vectors = np.stack(train_matrix).astype(np.float32)
    close = []
    for start in range(0, len(heldout_ids), chunk):
        ids = heldout_ids[start : start + chunk]
        block = np.stack([vectors[i] for i in ids]).astype(np.float32)
        best = (block @ train_vectors.T).max(axis=1)
        close += [i for i, score in zip(ids, best, strict=True) if score >= cosine]
    return close
