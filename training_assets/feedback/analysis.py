"""What the feedback says: satisfaction by period and model version, and the intents and
response traits that go with good or bad feedback."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

PERIODS = ("session", "today", "all")
_Z95 = 1.959964


@dataclass(frozen=True)
class Satisfaction:
    total: int
    positive: int
    negative: int
    neutral: int
    mean_score: float | None

    @property
    def satisfaction(self) -> float | None:
        """(positive − negative) / total, in [−1, 1]."""
        return (self.positive - self.negative) / self.total if self.total else None

    @property
    def positive_rate(self) -> float | None:
        return self.positive / self.total if self.total else None

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "positive": self.positive,
            "negative": self.negative,
            "neutral": self.neutral,
            "satisfaction": _round(self.satisfaction),
            "positive_rate": _round(self.positive_rate),
            "mean_score": _round(self.mean_score),
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def satisfaction(rows: Iterable) -> Satisfaction:
    counts = {"positive": 0, "negative": 0, "neutral": 0}
    scores = []
    for row in rows:
        counts[row["feedback"]] += 1
        if row["score"] is not None:
            scores.append(row["score"])
    total = sum(counts.values())
    mean = sum(scores) / len(scores) if scores else None
    return Satisfaction(total, counts["positive"], counts["negative"], counts["neutral"], mean)


def in_period(row, period: str, session: str | None, now: datetime) -> bool:
    if period == "all":
        return True
    if period == "today":
        return datetime.fromisoformat(row["created_at"]).astimezone(UTC).date() == now.date()
    if period == "session":
        return session is not None and row["session"] == session
    raise ValueError(f"period must be one of {PERIODS}, got {period!r}")


def feedback_stats(
    rows: list, period: str = "all", session: str | None = None, now: datetime | None = None
) -> dict:
    """Satisfaction overall and by model version, for one period."""
    now = now or datetime.now(UTC)
    chosen = [row for row in rows if in_period(row, period, session, now)]
    by_model: dict[str, list] = defaultdict(list)
    for row in chosen:
        by_model[row["model_version"]].append(row)
    return {
        "period": period,
        "session": session,
        "overall": satisfaction(chosen).as_dict(),
        "by_model_version": {m: satisfaction(r).as_dict() for m, r in sorted(by_model.items())},
    }


_CODE = re.compile(r"```|^(?: {4}|\t)\S", re.MULTILINE)
_LIST = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+\S", re.MULTILINE)
_URL = re.compile(r"https?://\S+")
_APOLOGY = re.compile(r"\b(?:sorry|apologi[sz]e)\b", re.IGNORECASE)
_REFUSAL = re.compile(
    r"\b(?:I can(?:no|')t (?:help|assist|do)|I'm unable to|as an AI(?: language model)?)\b",
    re.IGNORECASE,
)


def response_traits(response: str) -> list[str]:
    """Observable traits of a response, each a name a person can read."""
    length = len(response)
    traits = [
        "length:short" if length < 200 else "length:long" if length > 1200 else "length:medium"
    ]
    for name, pattern in (
        ("has_code", _CODE),
        ("has_list", _LIST),
        ("has_url", _URL),
        ("apologizes", _APOLOGY),
        ("refuses", _REFUSAL),
    ):
        if pattern.search(response):
            traits.append(name)
    if response.rstrip().endswith("?"):
        traits.append("ends_with_question")
    return traits


def wilson_interval(successes: int, total: int, z: float = _Z95) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion: honest for small counts."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - margin), min(1.0, centre + margin)


def feedback_patterns(rows: list, min_count: int = 5) -> dict:
    """Intents and response traits with their feedback, and whether they go with good or
    bad feedback: `good` when the 95 % interval of their positive rate lies above the
    overall rate, `bad` when below, else `unclear`."""
    overall = satisfaction(rows)
    base_rate = overall.positive_rate or 0.0
    groups: dict[str, list] = defaultdict(list)
    for row in rows:
        if row["intent"]:
            groups[f"intent:{row['intent']}"].append(row)
        for trait in response_traits(row["response"]):
            groups[trait].append(row)
    patterns = []
    for name, members in groups.items():
        if len(members) < min_count:
            continue
        found = satisfaction(members)
        low, high = wilson_interval(found.positive, found.total)
        verdict = "good" if low > base_rate else "bad" if high < base_rate else "unclear"
        patterns.append(
            {
                "pattern": name,
                "count": found.total,
                "positive": found.positive,
                "negative": found.negative,
                "positive_rate": _round(found.positive_rate),
                "interval_95": [_round(low), _round(high)],
                "mean_score": _round(found.mean_score),
                "verdict": verdict,
            }
        )
    order = {"good": 0, "bad": 1, "unclear": 2}
    patterns.sort(key=lambda p: (order[p["verdict"]], -p["count"], p["pattern"]))
    return {"overall_positive_rate": _round(base_rate), "patterns": patterns}
