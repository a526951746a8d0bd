"""How close an answer is to its reference: token F1 and chrF (sacrebleu).

The answer-token losses and the greedy answers they are measured on live in
`training_assets.lm` (losses, generation), which training shares."""

from __future__ import annotations

import re
from collections import Counter

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
