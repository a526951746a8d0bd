"""The diamonds+ report of a batch: plain data, written as JSON and shown as metadata."""

from __future__ import annotations

from collections import Counter

from training_assets.diamonds_plus.enzymes.base import EnzymeStats


def build_report(
    batch: str,
    processed: int,
    kept_quality: list[tuple[float, float]],
    rejected_reasons: list[str],
    duplicates: int,
    enzyme_stats: dict[str, EnzymeStats],
    redaction_kinds: list[str],
    gate: float,
    seconds: float,
) -> dict:
    """kept_quality: (quality before, quality after) of each span the enzymes processed."""
    improvement = (
        sum(after - before for before, after in kept_quality) / len(kept_quality)
        if kept_quality
        else 0.0
    )
    kept = processed - len(rejected_reasons)
    top = sorted(enzyme_stats.items(), key=lambda item: -abs(item[1].mean_quality_impact))
    return {
        "batch": batch,
        "total_processed": processed,
        "diamonds_plus": kept,
        "rejected": len(rejected_reasons),
        "rejected_by_reason": dict(
            Counter(r.split(" (")[0] for r in rejected_reasons).most_common()
        ),
        "gate": gate,
        "average_quality_improvement": round(improvement, 3),
        "duplicates_removed": duplicates,
        "enzymes": [{"name": name, **stats.as_dict()} for name, stats in top],
        "redactions_by_kind": dict(Counter(redaction_kinds).most_common()),
        "seconds": round(seconds, 2),
        "spans_per_second": round(processed / seconds, 1) if seconds else None,
    }


def summary_rows(report: dict) -> list[tuple[str, object]]:
    """The report as (measure, value) rows, in the order a person reads it."""
    rows: list[tuple[str, object]] = [
        ("spans processed", report["total_processed"]),
        (f"diamonds+ (quality ≥ {report['gate']:g})", report["diamonds_plus"]),
        ("rejected", report["rejected"]),
    ]
    rows += [(f"  rejected: {reason}", n) for reason, n in report["rejected_by_reason"].items()]
    rows += [
        ("duplicates removed", report["duplicates_removed"]),
        ("mean quality change through the enzymes", report["average_quality_improvement"]),
    ]
    rows += [(f"  redacted: {kind}", n) for kind, n in report["redactions_by_kind"].items()]
    rows.append(("spans/s", report["spans_per_second"]))
    return rows


ENZYME_COLUMNS = ("enzyme", "seen", "changed", "effective calls", "mean quality impact", "spans/s")


def enzyme_rows(report: dict) -> list[tuple]:
    """One row a enzyme of the report, in ENZYME_COLUMNS order."""
    keys = ("name", "seen", "changed", "effective_calls", "mean_quality_impact", "spans_per_second")
    return [tuple(e[k] for k in keys) for e in report["enzymes"]]
