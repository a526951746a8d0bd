"""A documented quality estimate for spans whose source gives no `metadata.quality_score`.

Chat exports (ShareGPT, Alpaca, OpenAI) carry no score, so without an estimate none of
their spans could be diamonds. The estimate starts at 70 and moves on evidence a
reviewer would use at a glance:

    +15  answer length in the useful band (80–6000 chars; scaled down outside it)
    +5   answer has structure (code fence, list or heading)
    +5   question is specific (≥ 20 chars)
    +5   answer is not a near-copy of the question
    -35  answer is a refusal or an "as an AI language model" disclaimer
    -30  answer is empty or trivially short (< 8 chars)
    -15  answer is highly repetitive (fewer than 30 % distinct lines in ≥ 10 lines)

and is clamped to 0–100. A typical good chat answer lands at 90–100, refusals and
stubs below the default diamond threshold of 80.
"""

from __future__ import annotations

import re

_REFUSAL = re.compile(
    r"\b(?:as an ai(?: language)? model|i(?:'m| am) (?:sorry|afraid),? but (?:i|as)|"
    r"i (?:can(?:no|')t|am unable to|'m unable to) (?:help|assist|provide|do that|comply))",
    re.IGNORECASE,
)
_STRUCTURE = re.compile(r"```|^\s*(?:[-*+]|\d+[.)])\s+\S|^#{1,6}\s", re.MULTILINE)


def estimate_quality(question: str | None, answer: str | None) -> float:
    question = (question or "").strip()
    answer = (answer or "").strip()
    if len(answer) < 8:
        return 40.0
    score = 70.0
    length = len(answer)
    if length < 80:
        score += 15 * length / 80
    elif length <= 6000:
        score += 15
    else:
        score += max(0.0, 15 - 5 * (length - 6000) / 6000)
    if _STRUCTURE.search(answer):
        score += 5
    if len(question) >= 20:
        score += 5
    if answer.lower() != question.lower():
        score += 5
    if _REFUSAL.search(answer[:400]):
        score -= 35
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    if len(lines) >= 10 and len(set(lines)) < 0.3 * len(lines):
        score -= 15
    return round(max(0.0, min(100.0, score)), 2)
