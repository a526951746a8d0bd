"""Span schema rules: classify each raw span as a diamond or quarantine it with a reason.

Reasons are written for the person who has to fix the source: they name the field and
the rule, never echo more than a short, already-redacted fragment of the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from training_assets.validation.quality import estimate_quality

STATUSES = ("pending", "completed", "failed")
REQUIRED_TEXT_FIELDS = ("id", "who", "did", "this", "when", "status")
DEFAULT_MIN_QUALITY = 80.0

INVALID = "invalid"
FILTERED = "filtered"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Verdict:
    """The outcome for one raw span: a diamond (reason None) or a quarantine reason."""

    category: str | None
    reason: str | None
    when_utc: datetime | None = None
    quality_score: float | None = None
    quality_source: str | None = None


def _fragment(value: str, limit: int = 32) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "…")


def parse_timestamp(value: str) -> tuple[datetime | None, str | None]:
    """ISO 8601 with an explicit offset, normalised to UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, f"field 'when' is not an ISO 8601 timestamp: {_fragment(value)}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, "field 'when' has no UTC offset (naive timestamp); add 'Z' or '+hh:mm'"
    return parsed.astimezone(UTC), None


def schema_problem(span: dict[str, Any]) -> str | None:
    """The first rule of DESIGN.md's span schema that `span` breaks, if any."""
    missing = [key for key in REQUIRED_TEXT_FIELDS if span.get(key) is None]
    if missing:
        return (
            "missing required field"
            + ("s " if len(missing) > 1 else " ")
            + ", ".join(f"'{k}'" for k in missing)
        )
    blank = [key for key in REQUIRED_TEXT_FIELDS if not span[key].strip()]
    if blank:
        return (
            "blank required field"
            + ("s " if len(blank) > 1 else " ")
            + ", ".join(f"'{k}'" for k in blank)
        )
    if span["status"] not in STATUSES:
        return (
            f"field 'status' must be one of {', '.join(STATUSES)}; got {_fragment(span['status'])}"
        )
    if span["status"] == "completed" and not (span.get("if_ok") or "").strip():
        return "completed span lacks 'if_ok' (the outcome is required when status is completed)"
    score = span.get("quality_score")
    if score is not None and not 0 <= score <= 100:
        return f"field 'metadata.quality_score' must be within 0–100; got {score:g}"
    return None


def judge(
    span: dict[str, Any],
    min_quality: float = DEFAULT_MIN_QUALITY,
    default_when: datetime | None = None,
) -> Verdict:
    """Schema rules, then the diamond criteria (completed, quality ≥ min_quality)."""
    if span.get("when") is None and default_when is not None:
        span = {**span, "when": default_when.isoformat()}
    problem = schema_problem(span)
    if problem:
        return Verdict(INVALID, problem)
    when_utc, problem = parse_timestamp(span["when"])
    if problem:
        return Verdict(INVALID, problem)
    if span.get("quality_score") is not None:
        score, source = float(span["quality_score"]), "input"
    else:
        score, source = estimate_quality(span["this"], span.get("if_ok")), "estimated"
    if span["status"] != "completed":
        reason = f"status is {span['status']}; only completed spans are diamonds"
        return Verdict(FILTERED, reason, when_utc, score, source)
    if score < min_quality:
        reason = f"quality {score:g} below the diamond threshold {min_quality:g}"
        return Verdict(FILTERED, reason, when_utc, score, source)
    return Verdict(None, None, when_utc, score, source)
