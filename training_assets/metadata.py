"""Small helpers that turn plain summaries into Dagster metadata values."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

import dagster as dg

from training_assets.memory import current_rss_mb


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[object]]
) -> dg.MarkdownMetadataValue:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows
    ]
    return dg.MetadataValue.md("\n".join(lines))


def png_markdown(png: bytes, alt: str) -> dg.MarkdownMetadataValue:
    """A PNG inline in Markdown metadata: the UI shows the picture on the asset's page."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")


def rate_line(label: str, done: int, total: int, elapsed: float) -> str:
    """'embedded 4096/12000 (34.2/s, ETA 3m51s, RSS 812 MB)' for progress logs."""
    rate = done / elapsed if elapsed > 0 else 0.0
    remaining = (total - done) / rate if rate > 0 else 0.0
    minutes, seconds = divmod(int(remaining), 60)
    rss = current_rss_mb()
    memory = f", RSS {rss:.0f} MB" if rss is not None else ""
    return f"{label} {done}/{total} ({rate:.1f}/s, ETA {minutes}m{seconds:02d}s{memory})"
