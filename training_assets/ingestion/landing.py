"""The landing folder: immutable, content-addressed input files and their batch plans.

`landing/<stem>-<sha12><ext>` holds the bytes exactly as received; beside it
`landing/.manifests/<sha12>.json` records the detected format and how the file is cut
into batches (record ranges with their byte offsets, so a batch is read without
re-parsing the ones before it). One batch is one dynamic partition, keyed
`<stem>-<sha12>-<nnn>`. Landing the same bytes again finds the manifest and changes
nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from training_assets.atomic import staging_path, write_json_atomic
from training_assets.ingestion.formats import (
    COMPRESSED_SUFFIXES,
    Candidate,
    FileLayout,
    FormatError,
    candidates_from_record,
    compression_of,
    detect_layout,
    file_sha256,
    iter_records,
    open_decompressed,
)
from training_assets.ingestion.records import (
    DEFAULT_MAX_RECORD_BYTES,
    RecordPosition,
    iter_array_records,
    open_json_array,
)

DEFAULT_BATCH_SIZE = 50_000
MANIFEST_DIR = ".manifests"
ROTATED_DIR = ".rotated"  # one marker per batch rotation archived and purged
_KEY = re.compile(r"^(?P<stem>[a-z0-9_]+)-(?P<sha>[0-9a-f]{12})-(?P<n>\d{3,})$")
_LANDED_NAME = re.compile(r"^[a-z0-9_]+-[0-9a-f]{12}(\.[A-Za-z0-9]+)*$")

__all__ = ["Batch", "FormatError", "LandedFile", "land_file", "adopt_file", "find_manifest"]


@dataclass(frozen=True)
class Batch:
    key: str
    first_index: int
    first_line: int
    first_byte: int
    records: int
    spans: int

    @property
    def start(self) -> RecordPosition:
        return RecordPosition(self.first_index, self.first_line, self.first_byte)


@dataclass(frozen=True)
class LandedFile:
    sha256: str
    original_name: str
    landed_name: str
    format: str
    container: str
    batch_size: int
    landed_at: str
    records: int
    spans: int
    batches: tuple[Batch, ...]

    @property
    def keys(self) -> list[str]:
        return [batch.key for batch in self.batches]

    def batch(self, key: str) -> Batch:
        for batch in self.batches:
            if batch.key == key:
                return batch
        raise KeyError(f"batch {key} is not in {self.landed_name}")

    def layout(self) -> FileLayout:
        first = self.batches[0].start if self.batches else RecordPosition()
        return FileLayout(self.format, self.container, first)

    @classmethod
    def from_json(cls, payload: dict) -> LandedFile:
        batches = tuple(Batch(**batch) for batch in payload["batches"])
        fields = {k: v for k, v in payload.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "batches": batches})


def stem_of(name: str) -> str:
    base = name.split(".")[0].lower()
    return re.sub(r"[^a-z0-9]+", "_", base).strip("_")[:32] or "file"


def mark_rotated(landing: Path, batch: str, archive: str) -> None:
    """Rotation's word that `batch` left the workspace for `archive` (before it purges)."""
    write_json_atomic(landing / ROTATED_DIR / f"{batch}.json", {"batch": batch, "archive": archive})


def rotated_out(landing: Path, batch: str) -> str | None:
    """Where a rotated-out batch's archive is, or None while the batch is here."""
    marker = landing / ROTATED_DIR / f"{batch}.json"
    return json.loads(marker.read_text())["archive"] if marker.exists() else None


def manifest_path(landing: Path, sha256: str) -> Path:
    return landing / MANIFEST_DIR / f"{sha256[:12]}.json"


def find_manifest(landing: Path, partition_key: str) -> LandedFile:
    """The manifest of the file a partition key was cut from."""
    match = _KEY.match(partition_key)
    if not match:
        raise KeyError(f"{partition_key!r} is not a batch key (<stem>-<sha12>-<nnn>)")
    path = landing / MANIFEST_DIR / f"{match['sha']}.json"
    if not path.exists():
        raise KeyError(
            f"batch {partition_key}: no landed file with hash {match['sha']} in {landing}"
        )
    return LandedFile.from_json(json.loads(path.read_text()))


def read_manifest(landing: Path, sha256: str) -> LandedFile | None:
    path = manifest_path(landing, sha256)
    return LandedFile.from_json(json.loads(path.read_text())) if path.exists() else None


def iter_manifests(landing: Path) -> Iterator[LandedFile]:
    for path in sorted((landing / MANIFEST_DIR).glob("*.json")):
        yield LandedFile.from_json(json.loads(path.read_text()))


def plan_batches(
    path: Path, layout: FileLayout, sha256: str, batch_size: int, max_record_bytes: int
) -> tuple[list[Batch], int, int]:
    """Cut a file into batches of about `batch_size` spans, at record boundaries.

    A record (one line, or one conversation) never straddles two batches, so a thread's
    turns stay together.
    """
    stem = stem_of(path.name.split("-")[0] if _LANDED_NAME.match(path.name) else path.name)
    batches: list[Batch] = []
    current: dict | None = None
    records = spans = 0
    for record in iter_records(path, layout, max_record_bytes=max_record_bytes):
        if current is None:
            current = {
                "first_index": record.index,
                "first_line": record.line_number,
                "first_byte": record.byte_offset,
                "records": 0,
                "spans": 0,
            }
        count = len(candidates_from_record(record, layout.format, sha256))
        current["records"] += 1
        current["spans"] += count
        records += 1
        spans += count
        if current["spans"] >= batch_size:
            batches.append(Batch(key=f"{stem}-{sha256[:12]}-{len(batches):03d}", **current))
            current = None
    if current is not None:
        batches.append(Batch(key=f"{stem}-{sha256[:12]}-{len(batches):03d}", **current))
    return batches, records, spans


def _disk_reserve(folder: Path) -> int:
    """What decompressing a file leaves free: 5 % of the disk, at most 256 MiB. A
    decompression bomb (64 MiB of zeros is 65 KB of gzip) stops there instead of filling
    the disk every other step writes to. A plain file is copied as it is: its size is
    known, and a full disk fails the copy with ENOSPC."""
    return min(shutil.disk_usage(folder).total // 20, 256 << 20)


def _copy_hashing(source: Path, target_dir: Path, compression: str | None) -> tuple[Path, str]:
    """Copy `source` (decompressed, if it is compressed) to a temporary file in
    `target_dir`; return it and the SHA-256 of what was written."""
    target_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp_name = staging_path(target_dir / "incoming")
    reserve = _disk_reserve(target_dir) if compression else 0
    try:
        with open(tmp_name, "xb") as out, _open_source(source, compression) as src:
            while chunk := src.read(1 << 22):
                if reserve and shutil.disk_usage(target_dir).free - len(chunk) < reserve:
                    raise FormatError(
                        f"{source}: landing it would leave less than {reserve >> 20} MiB "
                        f"free on the disk of {target_dir} ({out.tell() >> 20} MiB written "
                        "so far): free space, or land a smaller file"
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if compression is None or not isinstance(exc, Exception) or isinstance(exc, FormatError):
            raise
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise  # the disk is full, the stream may be fine
        # zlib.error, lzma.LZMAError, EOFError, zstandard.ZstdError: all say the same
        raise FormatError(
            f"{source}: the {compression} stream is damaged or cut off ({exc})"
        ) from None
    return Path(tmp_name), digest.hexdigest()


def _open_source(source: Path, compression: str | None) -> BinaryIO:
    return open(source, "rb") if compression is None else open_decompressed(source, compression)


def _register(
    landing: Path,
    landed: Path,
    sha256: str,
    original_name: str,
    requested_format: str,
    batch_size: int,
    max_record_bytes: int,
    layout: FileLayout,
) -> LandedFile:
    batches, records, spans = plan_batches(landed, layout, sha256, batch_size, max_record_bytes)
    manifest = LandedFile(
        sha256=sha256,
        original_name=original_name,
        landed_name=landed.name,
        format=layout.format,
        container=layout.container,
        batch_size=batch_size,
        landed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        records=records,
        spans=spans,
        batches=tuple(batches),
    )
    write_json_atomic(
        manifest_path(landing, sha256), {**asdict(manifest), "requested_format": requested_format}
    )
    return manifest


def _decompressed_name(name: str, compression: str | None) -> str:
    """`spans.jsonl.gz` -> `spans.jsonl`: the landed copy holds the decompressed bytes."""
    if compression is None:
        return name
    lowered = name.lower()
    suffix = next((s for s in COMPRESSED_SUFFIXES if lowered.endswith(s)), "")
    return name[: len(name) - len(suffix)] if suffix else name


def _content_name(original: str, sha256: str) -> str:
    suffix = "".join(Path(original).suffixes[-2:]).lower()
    suffix = re.sub(r"[^a-z0-9.]", "", suffix)
    return f"{stem_of(original)}-{sha256[:12]}{suffix}"


def land_file(
    source: Path,
    landing: Path,
    requested_format: str = "auto",
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> tuple[LandedFile, bool]:
    """Copy `source` into landing under its content-addressed name and plan its batches.

    Returns the manifest and whether the file is new. The format is checked before
    anything is copied: a file that cannot be read raises FormatError and leaves no
    trace in landing (and the source is never modified). A gzip, zstd, bzip2 or xz file
    is decompressed as it is copied (and checked then): the landed copy holds the text,
    so batches seek into it and quarantine rows point at its lines.
    """
    source = Path(source)
    compression = compression_of(source)
    if compression is None:
        layout = detect_layout(source, requested_format)
    tmp, sha256 = _copy_hashing(source, landing, compression)
    try:
        if compression is not None:
            try:
                layout = detect_layout(tmp, requested_format)
            except FormatError as error:
                raise FormatError(
                    f"{source} ({compression}): {error}".replace(f"{tmp}: ", "")
                ) from None
        existing = read_manifest(landing, sha256)
        if existing is not None:
            if requested_format not in ("auto", existing.format):
                raise FormatError(
                    f"{source}: these bytes were landed already as {existing.format} "
                    f"({existing.landed_name}); a second format for the same bytes would "
                    "count every record twice"
                )
            return existing, False
        landed = landing / _content_name(_decompressed_name(source.name, compression), sha256)
        os.replace(tmp, landed)
        os.chmod(landed, 0o444)
        try:
            manifest = _register(
                landing,
                landed,
                sha256,
                source.name,
                requested_format,
                batch_size,
                max_record_bytes,
                layout,
            )
        except BaseException:
            # the landed file and its manifest appear together or not at all
            os.chmod(landed, 0o644)
            landed.unlink(missing_ok=True)
            raise
        return manifest, True
    finally:
        tmp.unlink(missing_ok=True)


def adopt_file(
    path: Path,
    landing: Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> tuple[LandedFile, bool]:
    """Take a file someone dropped into landing/ by hand, as if it had been ingested.

    It is renamed (same folder, atomic) to its content-addressed name; a second copy of
    bytes already landed is removed, since the identical bytes are kept under that name.
    """
    if compression_of(path) is not None:
        # the text is landed beside it, under its own name; the compressed drop goes
        manifest, new = land_file(path, landing, "auto", batch_size, max_record_bytes)
        path.unlink()
        return manifest, new
    layout = detect_layout(path)
    sha256 = file_sha256(path)
    existing = read_manifest(landing, sha256)
    if existing is not None:
        if path.name != existing.landed_name and (landing / existing.landed_name).exists():
            path.unlink()
        return existing, False
    landed = (
        path
        if _LANDED_NAME.match(path.name) and sha256[:12] in path.name
        else landing / _content_name(path.name, sha256)
    )
    if landed != path:
        os.replace(path, landed)
    return _register(
        landing, landed, sha256, path.name, "auto", batch_size, max_record_bytes, layout
    ), True


_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download")


def unregistered_files(landing: Path, settle_seconds: float = 10.0) -> list[Path]:
    """Files in landing/ with no manifest yet (dropped by hand, or an interrupted ingest).

    Files still being written are left for a later tick: hidden names, partial-download
    suffixes, and anything modified in the last `settle_seconds`.
    """
    if not landing.is_dir():
        return []
    registered = {manifest.landed_name for manifest in iter_manifests(landing)}
    newest_allowed = time.time() - settle_seconds
    return sorted(
        p
        for p in landing.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and not p.name.endswith(_IN_PROGRESS_SUFFIXES)
        and p.name not in registered
        and p.stat().st_mtime <= newest_allowed
    )


def records_found_in_file(
    landing: Path, manifest: LandedFile, batch: Batch, max_record_bytes: int
) -> int:
    """How many records the landed file itself holds in `batch`'s bytes, counted again
    without the plan: its line ends for JSON lines (no parsing), a fresh read of the array
    from its opening bracket for a JSON array. The first batch's range starts at the
    file's first record and the last one's runs to the end of the file, so the batches
    together cover the file from byte 0 to its end."""
    path = landing / manifest.landed_name
    position = manifest.batches.index(batch)
    start = RecordPosition() if position == 0 else batch.start
    following = manifest.batches[position + 1] if position + 1 < len(manifest.batches) else None
    end = following.first_byte if following else path.stat().st_size
    with open(path, "rb") as handle:
        if manifest.container == "lines":
            handle.seek(start.byte_offset)
            lines, remaining, last = 0, end - start.byte_offset, b""
            while remaining > 0 and (chunk := handle.read(min(remaining, 1 << 22))):
                lines += chunk.count(b"\n")
                remaining -= len(chunk)
                last = chunk[-1:]
            return lines + (1 if last and last != b"\n" else 0)
        found = 0
        for record in iter_array_records(handle, open_json_array(handle), max_record_bytes):
            if record.byte_offset >= end:
                break
            found += position == 0 or record.byte_offset >= batch.first_byte
        return found


def iter_batch_candidates(
    landing: Path,
    manifest: LandedFile,
    batch: Batch,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_depth: int = 64,
) -> Iterator[Candidate]:
    path = landing / manifest.landed_name
    layout = manifest.layout()
    records = iter_records(path, layout, batch.start, max_record_bytes, max_depth)
    for _, record in zip(range(batch.records), records, strict=False):
        yield from candidates_from_record(record, manifest.format, manifest.sha256)
