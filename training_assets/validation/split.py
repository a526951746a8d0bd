"""Split a batch's raw spans into diamonds and quarantine, and summarise the split."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from training_assets.validation.rules import DUPLICATE, INVALID, judge

DIAMOND_COLUMNS = (
    "batch",
    "id",
    "who",
    "did",
    "this",
    "if_ok",
    "status",
    "environment",
    "thread_id",
    "parent_id",
    "turn_index",
    "system",
    "metadata_json",
    "source_file",
    "format",
    "record_index",
    "line_number",
    "line_sha256",
    "redactions",
)

QUARANTINE_SCHEMA = pl.Schema(
    {
        "batch": pl.String,
        "source_file": pl.String,
        "record_index": pl.Int64,
        "line_number": pl.Int64,
        "turn_index": pl.Int32,
        "span_id": pl.String,
        "line_sha256": pl.String,
        "category": pl.String,
        "reason": pl.String,
    }
)


@dataclass
class SplitSummary:
    total: int = 0
    valid: int = 0
    invalid: int = 0
    filtered: int = 0
    duplicate: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def top_reasons(self, n: int = 5) -> list[tuple[str, int]]:
        return self.reasons.most_common(n)


def _reason_family(reason: str) -> str:
    """Group reasons that differ only in their values ('quality 61 below…' -> 'quality below…')."""
    for marker in (" got ", ": ", " (turn", "; first seen", " at column"):
        if marker in reason:
            reason = reason.split(marker)[0]
    if reason.startswith("quality "):
        return "quality below the diamond threshold"
    return reason


def split_diamonds(
    raw: pl.DataFrame, min_quality: float, default_when: datetime | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, SplitSummary]:
    """Every raw row lands in exactly one of the two outputs.

    Order of rules: parse errors and schema rules (invalid), then duplicate ids among
    the schema-valid rows, first occurrence kept (duplicate), then the diamond criteria
    (filtered).
    """
    summary = SplitSummary(total=raw.height)
    keep_rows: list[int] = []
    when_utc: list[datetime] = []
    quality: list[float] = []
    quality_source: list[str] = []
    quarantine: dict[str, list] = {name: [] for name in QUARANTINE_SCHEMA}
    first_line_of: dict[str, int] = {}

    def reject(row: dict, category: str, reason: str) -> None:
        for name in QUARANTINE_SCHEMA:
            if name == "category":
                quarantine[name].append(category)
            elif name == "reason":
                quarantine[name].append(reason)
            elif name == "span_id":
                quarantine[name].append(row["id"])
            else:
                quarantine[name].append(row[name])
        setattr(summary, category, getattr(summary, category) + 1)
        summary.reasons[_reason_family(reason)] += 1

    for position, row in enumerate(raw.iter_rows(named=True)):
        if row["parse_error"] is not None:
            reject(row, row["parse_error_category"] or INVALID, row["parse_error"])
            continue
        # chat exports carry no time and take the landing's; a span must say when it was
        verdict = judge(row, min_quality, None if row["format"] == "spans" else default_when)
        if verdict.category == INVALID:
            reject(row, INVALID, verdict.reason)
            continue
        if row["id"] in first_line_of:
            reject(row, DUPLICATE, f"duplicate id; first seen at line {first_line_of[row['id']]}")
            continue
        first_line_of[row["id"]] = row["line_number"]
        if verdict.category is not None:
            reject(row, verdict.category, verdict.reason)
            continue
        keep_rows.append(position)
        when_utc.append(verdict.when_utc)
        quality.append(verdict.quality_score)
        quality_source.append(verdict.quality_source)

    summary.valid = len(keep_rows)
    diamonds = raw.select(DIAMOND_COLUMNS)[keep_rows].with_columns(
        pl.Series("when", when_utc, dtype=pl.Datetime("us", "UTC")),
        pl.Series("quality_score", quality, dtype=pl.Float64),
        pl.Series("quality_source", quality_source, dtype=pl.String),
    )
    return diamonds, pl.DataFrame(quarantine, schema=QUARANTINE_SCHEMA), summary
