"""Well-rated interactions → span NDJSON in landing, to go through the same validation,
redaction and gate as any other data.

The exported file's content depends only on the rows it holds (ordered by id, canonical
JSON), and landing names files by content: an export repeated after a crash between
landing the file and marking its rows lands nothing new and marks the same rows.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from training_assets.feedback.store import FeedbackStore
from training_assets.ingestion.landing import LandedFile, land_file

DEFAULT_MIN_SCORE = 3.0


def feedback_span(row) -> dict:
    """One interaction as a span; its score (0–5) becomes the quality score (0–100)."""
    return {
        "id": f"feedback-{row['id']}",
        "who": "user",
        "did": "chat",
        "this": row["query"],
        "if_ok": row["response"],
        "when": row["created_at"],
        "status": "completed",
        "context": {"environment": row["intent"] or "chat"},
        "metadata": {
            "quality_score": round(row["score"] * 20, 2),
            "origin": "feedback",
            "feedback": row["feedback"],
            "model_version": row["model_version"],
            "feedback_id": row["id"],
        },
    }


def export_feedback(
    store: FeedbackStore, landing: Path, min_score: float = DEFAULT_MIN_SCORE
) -> tuple[LandedFile | None, list[int]]:
    """Land every not yet exported interaction scored ≥ `min_score`; mark them exported."""
    rows = store.unexported(min_score)
    if not rows:
        return None, []
    ids = [row["id"] for row in rows]
    spans = [feedback_span(row) for row in rows]
    landed = land_spans(spans, landing, f"feedback-{ids[0]:08d}-{ids[-1]:08d}.jsonl")
    store.mark_exported(ids, landed.landed_name)
    return landed, ids


def land_spans(spans: list[dict], landing: Path, name: str) -> LandedFile:
    """Write spans as canonical NDJSON and land the file (content-addressed, so the same
    spans landed twice are one file)."""
    lines = "".join(json.dumps(span, sort_keys=True, ensure_ascii=False) + "\n" for span in spans)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / name
        source.write_text(lines, encoding="utf-8")
        landed, _ = land_file(source, landing, "spans")
    return landed
