"""The diamonds+ quality score and gate.

    quality = clamp(0, 100,
          input quality (metadata.quality_score, or the estimate of validation/quality.py)
        + what the enzymes measured (each enzyme's documented points: context attached,
          environment filled, code that parses, broken code, redactions)
        + completeness: −10 if the answer stops mid-sentence (no closing punctuation,
          bracket or fence on its last line and longer than 200 characters), −10 if the
          answer is shorter than 20 characters, +2 if it is 200–4000 characters long)

A span is kept when quality ≥ `gate` (default 85); otherwise it goes to
diamonds_plus_rejected with reason `below_gate (<quality>)`.
"""

from __future__ import annotations

import re

_FINISHED = re.compile(
    r"[.!?:;)\]}>\"'`*|…。！？]\s*$|^\s*(?:```|~~~)\s*$|^\s*[-*+]\s|^\s*\d+[.)]\s"
)


def completeness_points(answer: str | None) -> float:
    answer = (answer or "").rstrip()
    if len(answer) < 20:
        return -10.0
    points = 2.0 if 200 <= len(answer) <= 4000 else 0.0
    last_line = answer.rsplit("\n", 1)[-1]
    if len(answer) > 200 and not _FINISHED.search(last_line):
        points -= 10.0
    return points


def final_quality(input_quality: float, enzyme_points: float, answer: str | None) -> float:
    score = input_quality + enzyme_points + completeness_points(answer)
    return round(max(0.0, min(100.0, score)), 2)
