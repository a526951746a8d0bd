"""Build the `raw_spans` table of a batch: one typed row per span candidate, redacted.

Credentials are replaced here, as the text enters the first table, so that no table,
vector, index, log line or metadata entry downstream can hold one. The landing file is
the only place the original bytes remain.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from training_assets.ingestion.formats import Candidate
from training_assets.validation.redaction import redact_fields

TEXT_FIELDS = (
    "id",
    "who",
    "did",
    "this",
    "if_ok",
    "when",
    "status",
    "environment",
    "thread_id",
    "parent_id",
    "system",
    "metadata_json",
)

RAW_SPANS_SCHEMA = pl.Schema(
    {
        "batch": pl.String,
        "source_file": pl.String,
        "format": pl.String,
        "record_index": pl.Int64,
        "line_number": pl.Int64,
        "turn_index": pl.Int32,
        "line_sha256": pl.String,
        "parse_error": pl.String,
        "parse_error_category": pl.String,
        **{name: pl.String for name in TEXT_FIELDS},
        "quality_score": pl.Float64,
        "redactions": pl.List(pl.String),
    }
)


_ROWS_PER_CHUNK = 4096


def raw_spans_frame(
    candidates: Iterable[Candidate], batch: str, source_file: str, fmt: str
) -> pl.DataFrame:
    """The typed table, built 4096 rows at a time so that Python objects stay bounded.

    Column lists of Python strings cost several times the Arrow buffers they become;
    converting each chunk as it fills keeps a 50k-span batch near the size of its table.
    """
    chunks: list[pl.DataFrame] = []
    columns: dict[str, list] = {name: [] for name in RAW_SPANS_SCHEMA}
    for candidate in candidates:
        record = candidate.record
        values, kinds = redact_fields(candidate.fields.get(name) for name in TEXT_FIELDS)
        error = candidate.error
        if error is not None:
            (error,), error_kinds = redact_fields([error])
            kinds.extend(error_kinds)
        row = {
            "batch": batch,
            "source_file": source_file,
            "format": fmt,
            "record_index": record.index,
            "line_number": record.line_number,
            "turn_index": candidate.turn_index,
            "line_sha256": record.sha256,
            "parse_error": error,
            "parse_error_category": candidate.error_category if error is not None else None,
            **dict(zip(TEXT_FIELDS, values, strict=True)),
            "quality_score": candidate.fields.get("quality_score"),
            "redactions": kinds,
        }
        for name, value in row.items():
            columns[name].append(value)
        if len(columns["batch"]) == _ROWS_PER_CHUNK:
            chunks.append(pl.DataFrame(columns, schema=RAW_SPANS_SCHEMA))
            columns = {name: [] for name in RAW_SPANS_SCHEMA}
    chunks.append(pl.DataFrame(columns, schema=RAW_SPANS_SCHEMA))
    return pl.concat(chunks, rechunk=True)
