"""Semantic tags: a span gets the taxonomy tags whose description its vector is close to.

Each tag is described in a sentence; the description is embedded with the same model as
the spans, and a span takes every tag whose cosine similarity to its combined vector is
at least `threshold`, best first, at most `max_tags`. Structural tags that need no model
(code, multi-turn, has_url) are read off the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_CODE_FENCE = re.compile(r"```")
_URL = re.compile(r"https?://\S+")


def tag_matrix(
    vectors: np.ndarray,
    tag_vectors: np.ndarray,
    names: Sequence[str],
    threshold: float,
    max_tags: int,
) -> list[list[str]]:
    similarity = vectors @ tag_vectors.T
    order = np.argsort(-similarity, axis=1)[:, :max_tags]
    tags = []
    for row, best in zip(similarity, order, strict=True):
        tags.append([names[i] for i in best if row[i] >= threshold])
    return tags


def structural_tags(question: str, answer: str, turn_index: int | None) -> list[str]:
    tags = []
    if _CODE_FENCE.search(answer) or _CODE_FENCE.search(question):
        tags.append("code")
    if turn_index:
        tags.append("multi_turn")
    if _URL.search(question) or _URL.search(answer):
        tags.append("has_url")
    return tags
