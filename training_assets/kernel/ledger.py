"""A batch's ledger: its spans after redaction, its curation, its quarantine, its reports.

The ledger is what an archive holds once the batch's files are purged. Each span's
content hash is SHA-256 over the canonical JSON of its ledger record, so the kernel
state computed from the live tables and the one rebuilt from an archive derive the
same Merkle root from the same records.

Archive format: gzip'd JSON lines, one `{"kind": ...}` object per line. The first line
is the header (batch, counts, Merkle root); then `span`, `curated`, `rejected`,
`quarantine` and `report` lines.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from training_assets.atomic import atomic_path
from training_assets.kernel.merkle import merkle_root

LEDGER_VERSION = 1
# What a span is, as validated and redacted; positions in the file identify its origin.
SPAN_FIELDS = (
    "id", "who", "did", "this", "if_ok", "status", "when", "environment", "thread_id",
    "parent_id", "turn_index", "system", "metadata_json", "quality_score", "quality_source",
    "redactions", "source_file", "format", "record_index", "line_number", "line_sha256",
)  # fmt: skip
CURATED_FIELDS = (
    "id", "this", "if_ok", "context", "tags", "complexity", "related_ids", "enzyme_log",
    "quality_before", "quality",
)  # fmt: skip
REJECTED_FIELDS = ("id", "reason", "duplicate_of", "quality")
QUARANTINE_FIELDS = (
    "source_file", "record_index", "line_number", "turn_index", "span_id", "line_sha256",
    "category", "reason",
)  # fmt: skip


class LedgerError(ValueError):
    pass


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def records(table: pl.DataFrame, fields: Iterable[str]) -> Iterator[dict]:
    """Rows as plain JSON-ready dicts of `fields` (those the table has), in table order."""
    present = [f for f in fields if f in table.columns]
    for row in table.select(present).iter_rows(named=True):
        yield {key: _plain(value) for key, value in row.items()}


def canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def span_content_hash(record: dict) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def span_hashes(span_records: Iterable[dict]) -> list[str]:
    """Content hashes in Merkle-leaf order: sorted by span id (ids are unique per batch)."""
    ordered = sorted(span_records, key=lambda record: record["id"])
    return [span_content_hash(record) for record in ordered]


def batch_merkle_root(span_records: Iterable[dict]) -> str:
    return merkle_root(span_hashes(span_records))


@dataclass(frozen=True)
class Ledger:
    """Everything the archive of one batch holds, in memory."""

    batch: str
    spans: list[dict]
    curated: list[dict]
    rejected: list[dict]
    quarantine: list[dict]
    reports: dict[str, dict]

    @property
    def counts(self) -> dict[str, int]:
        return {
            "span": len(self.spans),
            "curated": len(self.curated),
            "rejected": len(self.rejected),
            "quarantine": len(self.quarantine),
            "report": len(self.reports),
        }


def write_archive(ledger: Ledger, target: Path, merkle: str, created: str) -> Path:
    """Write the ledger as gzip'd JSON lines, atomically: a kill leaves no partial archive."""
    header = {
        "kind": "header",
        "version": LEDGER_VERSION,
        "batch": ledger.batch,
        "created": created,
        "merkle_root": merkle,
        "counts": ledger.counts,
    }
    with atomic_path(target) as tmp, gzip.open(tmp, "wb", compresslevel=6) as out:
        out.write(canonical(header) + b"\n")
        for kind, rows in (
            ("span", ledger.spans),
            ("curated", ledger.curated),
            ("rejected", ledger.rejected),
            ("quarantine", ledger.quarantine),
        ):
            for row in rows:
                out.write(canonical({"kind": kind, **row}) + b"\n")
        for name, report in sorted(ledger.reports.items()):
            out.write(canonical({"kind": "report", "name": name, "report": report}) + b"\n")
    return target


def read_archive(path: Path) -> tuple[dict, Ledger]:
    """(header, ledger) of an archive; LedgerError when it is unreadable or incomplete."""
    try:
        with gzip.open(path, "rb") as handle:
            lines = [json.loads(line) for line in handle]
    except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LedgerError(f"{path}: unreadable archive ({error})") from error
    if not lines or lines[0].get("kind") != "header":
        raise LedgerError(f"{path}: no header line")
    header = lines[0]
    if header.get("version") != LEDGER_VERSION:
        raise LedgerError(
            f"{path}: ledger version {header.get('version')}, expected {LEDGER_VERSION}"
        )
    groups: dict[str, list[dict]] = {"span": [], "curated": [], "rejected": [], "quarantine": []}
    reports = {}
    for line in lines[1:]:
        kind = line.pop("kind", None)
        if kind == "report":
            reports[line["name"]] = line["report"]
        elif kind in groups:
            groups[kind].append(line)
        else:
            raise LedgerError(f"{path}: unknown line kind {kind!r}")
    ledger = Ledger(
        header["batch"],
        groups["span"],
        groups["curated"],
        groups["rejected"],
        groups["quarantine"],
        reports,
    )
    return header, ledger


def verify_archive(path: Path, expected_root: str) -> Ledger:
    """Re-read an archive and check its counts and Merkle root; LedgerError if they differ."""
    header, ledger = read_archive(path)
    if header["counts"] != ledger.counts:
        raise LedgerError(f"{path}: header counts {header['counts']}, lines {ledger.counts}")
    ids = Counter(record["id"] for record in ledger.spans)
    if ids and ids.most_common(1)[0][1] > 1:
        raise LedgerError(f"{path}: span ids repeat")
    root = batch_merkle_root(ledger.spans)
    if root != header["merkle_root"] or root != expected_root:
        raise LedgerError(
            f"{path}: Merkle root of its spans {root[:16]}… does not match "
            f"the header {header['merkle_root'][:16]}… and the kernel state {expected_root[:16]}…"
        )
    return ledger
