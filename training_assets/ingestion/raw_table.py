"""Build the `raw_spans` table of a batch: one typed row per span candidate, redacted.

Credentials are replaced here, as the text enters the first table, so that no table,
vector, index, log line or metadata entry downstream can hold one. The landing file is
the only place the original bytes remain. A value found anywhere in the batch is
replaced everywhere in it: a key pasted in one turn and quoted bare in another (where no
rule would know it), or repeated in a later span of the same thread, goes too; and a
value found in an earlier batch (`KnownSecrets`, digests only) goes in this one.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from training_assets.ingestion.formats import Candidate
from training_assets.redaction import redact_fields, replace_in_fields
from training_assets.redaction.known import KnownSecrets

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
    candidates: Iterable[Candidate],
    batch: str,
    source_file: str,
    fmt: str,
    known: KnownSecrets | None = None,
) -> pl.DataFrame:
    """The typed table, built 4096 rows at a time so that Python objects stay bounded.

    Column lists of Python strings cost several times the Arrow buffers they become;
    converting each chunk as it fills keeps a 50k-span batch near the size of its table.
    `known` holds the digests of values found in earlier batches; this batch's are added.
    """
    chunks: list[pl.DataFrame] = []
    columns: dict[str, list] = {name: [] for name in RAW_SPANS_SCHEMA}
    found_in_batch: dict[str, str] = {}
    for candidate in candidates:
        record = candidate.record
        error = candidate.error
        fields = [candidate.fields.get(name) for name in TEXT_FIELDS]
        redacted, kinds, found = redact_fields([*fields, error])
        earlier = known.find(redacted) if known is not None else {}
        if earlier:
            redacted, more = replace_in_fields(redacted, earlier)
            kinds.extend(more)
            found.update(earlier)
        *values, error = redacted
        for value, kind in found.items():
            found_in_batch.setdefault(value, kind)
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
    frame = pl.concat(chunks, rechunk=True)
    if known is not None:
        known.add(found_in_batch)
    return redact_everywhere(frame, found_in_batch) if found_in_batch else frame


_REDACTED_COLUMNS = (*TEXT_FIELDS, "parse_error")


def redact_everywhere(frame: pl.DataFrame, found: dict[str, str]) -> pl.DataFrame:
    """Replace every occurrence of every found value in every text column of the batch.

    Polars' Aho-Corasick `contains_any` picks the few rows that still hold one; only
    those go through Python.
    """
    needles = sorted(found)
    holds = pl.any_horizontal(
        pl.col(name).str.contains_any(needles).fill_null(False) for name in _REDACTED_COLUMNS
    )
    rows = frame.with_row_index("_row").filter(holds)
    if rows.height == 0:
        return frame
    updates: dict[str, list] = {name: [] for name in (*_REDACTED_COLUMNS, "redactions")}
    for row in rows.iter_rows(named=True):
        cleaned, more = replace_in_fields([row[name] for name in _REDACTED_COLUMNS], found)
        for name, value in zip(_REDACTED_COLUMNS, cleaned, strict=True):
            updates[name].append(value)
        updates["redactions"].append([*row["redactions"], *more])
    patch = pl.DataFrame(
        {"_row": rows["_row"], **updates},
        schema={"_row": pl.UInt32, **{n: RAW_SPANS_SCHEMA[n] for n in updates}},
    )
    return (
        frame.with_row_index("_row")
        .update(patch, on="_row")
        .drop("_row")
        .select(RAW_SPANS_SCHEMA.names())
    )
