"""What every benchmark writes: the date and machine of the run, and its JSON report in
benchmarks/results/."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def run_stamp() -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def save_report(report: dict, stem: str) -> Path:
    """Write `report` to benchmarks/results/<stem>.json; return the path."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{stem}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out
