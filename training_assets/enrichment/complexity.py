"""Complexity score (0–100) of a span: how much a model must do to produce its answer.

    complexity = 100 × (0.35·L + 0.25·C + 0.20·S + 0.10·V + 0.10·T)

    L  length      log(1 + words in question and answer) / log(1 + 2000), capped at 1
    C  code        share of the answer inside code fences, scaled ×2 and capped at 1;
                   any fenced block counts at least 0.25
    S  structure   (list items + headings + code blocks) / 12, capped at 1
    V  vocabulary  distinct words / words in the answer (type-token ratio), 0 if < 20 words
    T  thread      position in its conversation: turn_index / 8, capped at 1

A one-line factual answer scores about 10–20; a long multi-step answer with code in the
middle of a conversation scores 70 and above.
"""

from __future__ import annotations

import math
import re

_WORD = re.compile(r"\w+")
_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_STRUCTURE = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#{1,6})\s+\S", re.MULTILINE)

WEIGHTS = {"length": 0.35, "code": 0.25, "structure": 0.20, "vocabulary": 0.10, "thread": 0.10}


def complexity_components(question: str, answer: str, turn_index: int | None) -> dict[str, float]:
    answer_words = _WORD.findall(answer.lower())
    words = len(_WORD.findall(question)) + len(answer_words)
    fenced = _FENCED.findall(answer)
    code_chars = sum(len(block) for block in fenced)
    code = min(1.0, 2 * code_chars / max(1, len(answer)))
    if fenced:
        code = max(code, 0.25)
    structure = min(1.0, (len(_STRUCTURE.findall(answer)) + len(fenced)) / 12)
    vocabulary = len(set(answer_words)) / len(answer_words) if len(answer_words) >= 20 else 0.0
    return {
        "length": min(1.0, math.log1p(words) / math.log1p(2000)),
        "code": code,
        "structure": structure,
        "vocabulary": vocabulary,
        "thread": min(1.0, (turn_index or 0) / 8),
    }


def complexity_score(question: str, answer: str, turn_index: int | None) -> float:
    parts = complexity_components(question, answer, turn_index)
    return round(100 * sum(WEIGHTS[name] * value for name, value in parts.items()), 2)
