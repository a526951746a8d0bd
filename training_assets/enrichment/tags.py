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

TAXONOMY: dict[str, str] = {
    "programming": "writing, explaining or debugging source code in a programming language",
    "data": "data analysis, SQL queries, spreadsheets, statistics and data processing",
    "devops": "servers, deployment, docker, kubernetes, cloud infrastructure and networking",
    "machine_learning": "machine learning, neural networks, training models and AI research",
    "math": "mathematics, equations, proofs, calculation and numerical problems",
    "science": "physics, chemistry, biology, medicine and scientific explanation",
    "writing": "writing an essay, article, story, poem, email or marketing copy",
    "business": "business strategy, marketing, sales, startups, finance and management",
    "education": "teaching, lesson plans, studying, exams and explaining a concept to a student",
    "health": "health, fitness, diet, nutrition, mental health and medical advice",
    "law": "legal questions, contracts, regulations and law",
    "translation": "translating text between languages or questions about language and grammar",
    "creative": "role play, fiction, games, jokes and imaginative creative writing",
    "advice": "personal advice, relationships, career guidance and everyday decisions",
    "history": "history, politics, religion, philosophy and society",
    "product": "product design, user experience, requirements and project planning",
}

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
