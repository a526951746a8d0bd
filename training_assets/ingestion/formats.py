"""Input formats: detect them and turn each source record into span candidates.

A span candidate is a plain dict with the span schema of DESIGN.md (flattened:
`environment`, `thread_id`, `parent_id`, `quality_score` instead of nested objects) or a
record-level error. Type errors are caught here; semantic rules (timestamps, status,
thresholds) belong to validation.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from training_assets.ingestion.records import (
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_RECORD_BYTES,
    RecordPosition,
    SourceRecord,
    iter_array_records,
    iter_line_records,
    open_json_array,
    parse_json_text,
)

FORMATS = ("spans", "sharegpt", "alpaca", "openai")
HUMAN_ROLES = {"human", "user"}
ASSISTANT_ROLES = {"gpt", "assistant", "chatgpt", "bing", "bard", "model"}
SYSTEM_ROLES = {"system"}
_SNIFF_BYTES = 1 << 16


class FormatError(ValueError):
    """A file this project cannot read; the message names the file and why."""


@dataclass
class Candidate:
    """One row of raw_spans: a span's fields, or the reason the record gave none."""

    record: SourceRecord
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    turn_index: int | None = None
    # "invalid" (the record is broken) or "filtered" (well-formed, but not a training pair)
    error_category: str = "invalid"


@dataclass(frozen=True)
class FileLayout:
    """How a file is read: line by line or item by item from a JSON array."""

    format: str
    container: str  # "lines" | "array"
    first: RecordPosition


def detect_layout(path: Path, requested: str = "auto") -> FileLayout:
    """Decide the format and container of `path`, or raise FormatError saying why not."""
    if requested not in ("auto", *FORMATS):
        raise FormatError(
            f"{path}: unknown format {requested!r}; choose auto or one of {', '.join(FORMATS)}"
        )
    _require_regular_file(path)
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise FormatError(f"{path}: UTF-16 encoded; convert it to UTF-8 first")
        kind = _compression_of_head(head)
        if kind:
            raise FormatError(f"{path}: {kind}-compressed; land it (landing decompresses it)")
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped:
            raise FormatError(f"{path}: file is empty")
        if stripped[:1] == b"[" and not _is_lines_opening_with_an_array(head):
            first = open_json_array(handle)
            fmt = requested if requested != "auto" else _format_of_first_item(path, handle, first)
            return FileLayout(fmt, "array", first)
        if stripped[:1] not in (b"{", b"["):
            raise FormatError(
                f"{path}: not JSON lines or a JSON array (starts with {stripped[:20]!r})"
            )
        if b"\n" not in head.rstrip(b"\n"):
            handle.seek(0)
            head = handle.readline(DEFAULT_MAX_RECORD_BYTES + 1)  # one line past the window
        fmt = requested if requested != "auto" else _format_of_lines(path, head)
        return FileLayout(fmt, "lines", RecordPosition())


# magic bytes of the compressed files logs come in, and how to read each as a stream
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
}
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd", ".bz2", ".xz")


def _compression_of_head(head: bytes) -> str | None:
    return next((kind for magic, kind in _COMPRESSED.items() if head.startswith(magic)), None)


def compression_of(path: Path) -> str | None:
    """'gzip', 'zstd', 'bzip2' or 'xz' when `path` holds compressed bytes, else None."""
    _require_regular_file(path)
    with open(path, "rb") as handle:
        return _compression_of_head(handle.read(8))


def open_decompressed(path: Path, kind: str) -> BinaryIO:
    """A binary stream of `path`'s decompressed bytes."""
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bzip2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    return _ZstdReader(path)


class _ZstdReader:
    """zstd frames one after another, like gzip members; a cut-off last frame is an error
    (zstandard's own stream reader returns what it has and says nothing)."""

    def __init__(self, path: Path) -> None:
        import zstandard

        self._new = zstandard.ZstdDecompressor().decompressobj
        self._file = open(path, "rb")  # noqa: SIM115 (closed by __exit__)
        self._frame = self._new()
        self._pending = b""
        self._started = False  # inside a frame: input ending now would cut it off

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while size < 0 or len(out) < size:
            data = self._pending or self._file.read(1 << 20)
            self._pending = b""
            if not data:
                if not self._frame.eof and self._started:
                    raise EOFError("the zstd stream ends inside a frame")
                break
            self._started = True
            out += self._frame.decompress(data)
            if self._frame.eof:
                self._pending = self._frame.unused_data
                self._frame, self._started = self._new(), bool(self._pending)
        return bytes(out)

    def __enter__(self) -> _ZstdReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _require_regular_file(path: Path) -> None:
    """A readable regular file, or a FormatError that says what the path is instead."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        reason = "broken symbolic link" if os.path.islink(path) else "no such file"
        raise FormatError(f"{path}: {reason}") from None
    except OSError as exc:  # a symlink loop (ELOOP), a permission problem, …
        raise FormatError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise FormatError(f"{path}: is a directory; name the files in it")
    if not stat.S_ISREG(info.st_mode):
        raise FormatError(f"{path}: not a regular file (a pipe, socket or device)")


def _is_lines_opening_with_an_array(head: bytes) -> bool:
    """JSON lines whose first record is an array (`[]`, then objects), not a JSON array:
    the first line is a whole JSON value on its own and more lines follow it."""
    first_line, _, rest = head.lstrip(b"\xef\xbb\xbf \t\r\n").partition(b"\n")
    if not rest.strip():
        return False
    value, problem = parse_json_text(first_line.decode("utf-8", "replace").rstrip("\r"))
    return problem is None and isinstance(value, list)


def _format_of_first_item(path: Path, handle: BinaryIO, first: RecordPosition) -> str:
    for record in iter_array_records(handle, first):
        if isinstance(record.value, dict):
            fmt = format_of_object(record.value)
            if fmt:
                return fmt
        raise FormatError(
            f"{path}: the first array item is not a span, ShareGPT, Alpaca or OpenAI record"
        )
    raise FormatError(f"{path}: the JSON array is empty")


def _format_of_lines(path: Path, head: bytes) -> str:
    for line in head.splitlines()[:50]:
        value, _ = parse_json_text(line.decode("utf-8", "replace").lstrip("\ufeff"))
        if isinstance(value, dict) and (fmt := format_of_object(value)):
            return fmt
    raise FormatError(
        f"{path}: none of the first lines is a span, ShareGPT, Alpaca or OpenAI record "
        "(pass --format to force one)"
    )


def format_of_object(value: dict[str, Any]) -> str | None:
    if "conversations" in value or "conversation" in value:
        return "sharegpt"
    if "messages" in value:
        return "openai"
    if "instruction" in value and "output" in value:
        return "alpaca"
    if {"id", "who", "did", "this", "when"} & value.keys():
        return "spans"
    return None


def iter_records(
    path: Path,
    layout: FileLayout,
    start: RecordPosition | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
) -> Iterator[SourceRecord]:
    with open(path, "rb") as handle:
        position = start or layout.first
        reader = iter_line_records if layout.container == "lines" else iter_array_records
        yield from reader(handle, position, max_record_bytes, max_depth)


def candidates_from_record(record: SourceRecord, fmt: str, file_id: str) -> list[Candidate]:
    """Every record yields at least one candidate, so every record is accounted for."""
    if record.error is not None:
        return [Candidate(record, error=record.error)]
    if not isinstance(record.value, dict):
        return [Candidate(record, error=f"expected a JSON object, got {_json_type(record.value)}")]
    convert = {"spans": _span_fields, "sharegpt": _sharegpt, "alpaca": _alpaca, "openai": _openai}[
        fmt
    ]
    try:
        return convert(record, file_id)
    except _FieldError as exc:
        return [Candidate(record, error=str(exc))]


class _FieldError(ValueError):
    pass


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _optional_str(obj: dict[str, Any], key: str, where: str = "") -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _FieldError(f"field '{where}{key}' must be a string, got {_json_type(value)}")


def _optional_object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise _FieldError(f"field '{key}' must be an object, got {_json_type(value)}")


def _span_fields(record: SourceRecord, file_id: str) -> list[Candidate]:
    obj = record.value
    fields = {
        key: _optional_str(obj, key)
        for key in ("id", "who", "did", "this", "when", "status", "if_ok")
    }
    context = _optional_object(obj, "context")
    metadata = _optional_object(obj, "metadata")
    for key in ("environment", "thread_id", "parent_id", "system"):
        fields[key] = _optional_str(context, key, "context.")
    score = metadata.get("quality_score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise _FieldError(
            f"field 'metadata.quality_score' must be a number, got {_json_type(score)}"
        )
    try:
        fields["quality_score"] = None if score is None else float(score)
    except OverflowError:
        raise _FieldError(
            f"field 'metadata.quality_score' is out of range ({len(str(score))} digits)"
        ) from None
    extra = {k: v for k, v in metadata.items() if k != "quality_score"}
    extra_context = {
        k: v
        for k, v in context.items()
        if k not in ("environment", "thread_id", "parent_id", "system")
    }
    if extra_context:
        extra["context"] = extra_context
    fields["metadata_json"] = (
        json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else None
    )
    return [Candidate(record, fields=fields)]


def _stable_id(file_id: str, record: SourceRecord) -> str:
    return f"{file_id[:12]}-{record.sha256[:12]}-{record.index}"


def _conversation_turns(
    turns: Any, role_key: str, text_key: str
) -> tuple[str | None, list[tuple[str, str]]]:
    if not isinstance(turns, list):
        raise _FieldError(f"conversation must be an array of turns, got {_json_type(turns)}")
    system, normalised = None, []
    for position, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise _FieldError(f"turn {position} must be an object, got {_json_type(turn)}")
        role, text = turn.get(role_key), turn.get(text_key)
        if not isinstance(role, str):
            raise _FieldError(f"turn {position}: '{role_key}' must be a string")
        if not isinstance(text, str):
            raise _FieldError(
                f"turn {position}: '{text_key}' must be a string, got {_json_type(text)}"
            )
        role = role.lower()
        if role in SYSTEM_ROLES:
            system = text if system is None else f"{system}\n{text}"
        elif role in HUMAN_ROLES:
            normalised.append(("user", text))
        elif role in ASSISTANT_ROLES:
            normalised.append(("assistant", text))
        else:
            raise _FieldError(f"turn {position}: unknown role {role[:40]!r}")
    return system, normalised


def _pairs_to_candidates(
    record: SourceRecord,
    conversation_id: str,
    system: str | None,
    turns: list[tuple[str, str]],
    extra: dict[str, Any],
) -> list[Candidate]:
    """Each user turn answered by the next assistant turn becomes a span of the thread."""
    candidates: list[Candidate] = []
    previous_id: str | None = None
    metadata_json = json.dumps(extra, sort_keys=True, ensure_ascii=False) if extra else None
    pair_index = 0
    position = 0
    while position < len(turns):
        role, text = turns[position]
        answered = position + 1 < len(turns) and turns[position + 1][0] == "assistant"
        if role == "user" and answered:
            span_id = f"{conversation_id}:{pair_index}"
            fields = {
                "id": span_id,
                "who": "user",
                "did": "chat",
                "this": text,
                "if_ok": turns[position + 1][1],
                "status": "completed",
                "when": None,
                "environment": None,
                "thread_id": conversation_id,
                "parent_id": previous_id,
                "system": system,
                "quality_score": None,
                "metadata_json": metadata_json,
            }
            candidates.append(Candidate(record, fields=fields, turn_index=pair_index))
            previous_id = span_id
            pair_index += 1
            position += 2
            continue
        if role == "user":
            reason = "user turn with no assistant reply"
        else:
            reason = "assistant turn with no user turn before it"
        candidates.append(
            Candidate(
                record,
                error=f"{reason} (turn {position})",
                turn_index=pair_index,
                error_category="filtered",
            )
        )
        position += 1
    if not candidates:
        candidates.append(
            Candidate(record, error="conversation has no turns", error_category="filtered")
        )
    return candidates


def _given_id(obj: dict[str, Any]) -> str | None:
    """The record's own id, if it has one; a blank one is an error in every format."""
    value = _optional_str(obj, "id")
    if value is not None and not value.strip():
        raise _FieldError("field 'id' is blank (leave it out to get a generated id)")
    return value


def _sharegpt(record: SourceRecord, file_id: str) -> list[Candidate]:
    obj = record.value
    turns = obj.get("conversations", obj.get("conversation"))
    conversation_id = _given_id(obj) or _stable_id(file_id, record)
    system, normalised = _conversation_turns(turns, "from", "value")
    system = _optional_str(obj, "system") or system
    extra = {
        k: v for k, v in obj.items() if k not in ("conversations", "conversation", "id", "system")
    }
    return _pairs_to_candidates(record, conversation_id, system, normalised, extra)


def _openai(record: SourceRecord, file_id: str) -> list[Candidate]:
    obj = record.value
    conversation_id = _given_id(obj) or _stable_id(file_id, record)
    system, normalised = _conversation_turns(obj.get("messages"), "role", "content")
    extra = {k: v for k, v in obj.items() if k not in ("messages", "id")}
    return _pairs_to_candidates(record, conversation_id, system, normalised, extra)


def _alpaca(record: SourceRecord, file_id: str) -> list[Candidate]:
    obj = record.value
    instruction = _optional_str(obj, "instruction")
    extra_input = _optional_str(obj, "input")
    output = _optional_str(obj, "output")
    if extra_input and not (instruction or "").strip():
        raise _FieldError("Alpaca record has an 'input' but no 'instruction' (no question to ask)")
    this = instruction if not extra_input else f"{instruction}\n\n{extra_input}"
    fields = {
        "id": _given_id(obj) or _stable_id(file_id, record),
        "who": "user",
        "did": "instruct",
        "this": this,
        "if_ok": output,
        "status": "completed",
        "when": None,
        "environment": None,
        "thread_id": None,
        "parent_id": None,
        "system": _optional_str(obj, "system"),
        "quality_score": None,
        "metadata_json": None,
    }
    return [Candidate(record, fields=fields)]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()
