"""Split an input file into source records (lines or JSON-array items), losing none.

Every record carries where it came from (ordinal, line, byte offset) and a SHA-256 of
its bytes, so a record that cannot be read is still accounted for by position and hash
without keeping a copy of content that may hold a secret.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

UTF8_BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_RECORD_BYTES = 1 << 20
DEFAULT_MAX_JSON_DEPTH = 64
_ARRAY_CHUNK_BYTES = 1 << 22


@dataclass(frozen=True)
class SourceRecord:
    """One physical record: the parsed JSON value, or the reason it has none."""

    index: int
    line_number: int
    byte_offset: int
    sha256: str
    value: Any = None
    error: str | None = None


@dataclass(frozen=True)
class RecordPosition:
    """Where to resume reading: the next record's ordinal, line and byte offset."""

    index: int = 0
    line_number: int = 1
    byte_offset: int = 0


class _NonStandardConstant:
    def __init__(self, name: str) -> None:
        self.name = name


class _OversizedInteger:
    """An integer literal too long for Python to convert (over 4,300 digits)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


# Python refuses to convert longer integer literals (sys.get_int_max_str_digits)
MAX_INTEGER_DIGITS = 4300
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _bounded_int(literal: str) -> int | _OversizedInteger:
    digits = len(literal.lstrip("-"))
    return int(literal) if digits <= MAX_INTEGER_DIGITS else _OversizedInteger(digits)


def _surrogate_problem(text: str, where: str) -> str | None:
    match = _LONE_SURROGATE.search(text)
    if match is None:
        return None
    return (
        f"lone UTF-16 surrogate \\u{ord(match.group()):04x} in {where} "
        "(a JSON escape that is not a Unicode character; the record cannot be stored as text)"
    )


def _problem_in_value(value: Any, max_depth: int) -> str | None:
    """Why a parsed JSON value is unacceptable (NaN/Infinity, an integer too long to
    convert, a lone surrogate in a string or key, nesting), else None."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "the record")]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, str):
            problem = _surrogate_problem(node, where)
            if problem:
                return problem
        elif isinstance(node, _NonStandardConstant):
            return f"non-standard JSON constant {node.name} (JSON has no NaN or Infinity)"
        elif isinstance(node, _OversizedInteger):
            return f"integer of {node.digits} digits in {where} (more than {MAX_INTEGER_DIGITS})"
        elif isinstance(node, float) and not math.isfinite(node):
            return "number out of range (overflows to infinity)"
        elif isinstance(node, dict | list):
            if depth > max_depth:
                return f"JSON nested deeper than {max_depth} levels"
            if isinstance(node, dict):
                for key, child in node.items():
                    problem = _surrogate_problem(key, f"a key of {where}")
                    if problem:
                        return problem
                    stack.append((child, depth + 1, f"field '{key[:40]}'"))
            else:
                stack.extend((child, depth + 1, where) for child in node)
    return None


def _strict_decoder() -> json.JSONDecoder:
    return json.JSONDecoder(parse_constant=_NonStandardConstant, parse_int=_bounded_int)


def parse_json_text(text: str, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> tuple[Any, str | None]:
    """Parse one JSON document strictly: (value, None) or (None, reason)."""
    try:
        value = _strict_decoder().decode(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, f"JSON nested deeper than {max_depth} levels"
    problem = _problem_in_value(value, max_depth)
    return (None, problem) if problem else (value, None)


def _utf8_problem(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
    return None


def iter_line_records(
    handle: BinaryIO,
    start: RecordPosition = RecordPosition(),
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
) -> Iterator[SourceRecord]:
    """Yield one record per physical line of an NDJSON/JSONL file.

    The length limit is enforced while reading, before any parsing: an over-long line is
    hashed in chunks and never held in memory whole. BOM, CRLF and a missing final
    newline are accepted; blank lines become records with a reason.
    """
    handle.seek(start.byte_offset)
    index, line_number, offset = start.index, start.line_number, start.byte_offset
    while True:
        chunk = handle.readline(max_record_bytes + 2)
        if not chunk:
            return
        record_offset = offset
        offset += len(chunk)
        digest = hashlib.sha256(chunk)
        too_long = not chunk.endswith(b"\n") and len(chunk) == max_record_bytes + 2
        while too_long and not chunk.endswith(b"\n"):
            chunk = handle.readline(1 << 20)
            if not chunk:
                break
            offset += len(chunk)
            digest.update(chunk)
        if too_long:
            error = f"line longer than the {max_record_bytes}-byte limit (not parsed)"
            yield SourceRecord(index, line_number, record_offset, digest.hexdigest(), error=error)
        else:
            yield _line_record(
                chunk, index, line_number, record_offset, max_record_bytes, max_depth
            )
        index += 1
        line_number += 1


def _line_record(
    chunk: bytes, index: int, line_number: int, offset: int, max_bytes: int, max_depth: int
) -> SourceRecord:
    sha = hashlib.sha256(chunk).hexdigest()
    content = chunk.rstrip(b"\n").rstrip(b"\r")
    if offset == 0 and content.startswith(UTF8_BOM):
        content = content[len(UTF8_BOM) :]
    if len(content) > max_bytes:
        return SourceRecord(
            index,
            line_number,
            offset,
            sha,
            error=f"line longer than the {max_bytes}-byte limit (not parsed)",
        )
    if not content.strip():
        return SourceRecord(index, line_number, offset, sha, error="blank line")
    problem = _utf8_problem(content)
    if problem:
        return SourceRecord(index, line_number, offset, sha, error=problem)
    value, error = parse_json_text(content.decode("utf-8"), max_depth)
    return SourceRecord(index, line_number, offset, sha, value=value, error=error)


class _ArrayStream:
    """Incremental reader over a JSON array, item by item, tolerant of a cut-off end."""

    def __init__(self, handle: BinaryIO, start: RecordPosition) -> None:
        self.handle = handle
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        handle.seek(start.byte_offset)
        self.buf = ""
        self.pos = 0
        self.line = start.line_number
        self.byte_offset = start.byte_offset
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        data = self.handle.read(_ARRAY_CHUNK_BYTES)
        self.eof = not data
        self.buf = self.buf[self.pos :] + self.decoder.decode(data, final=self.eof)
        self.pos = 0
        return bool(data)

    def advance(self, new_pos: int) -> None:
        consumed = self.buf[self.pos : new_pos]
        self.line += consumed.count("\n")
        self.byte_offset += len(consumed.encode("utf-8", "surrogateescape"))
        self.pos = new_pos

    def skip_whitespace(self) -> str:
        """Skip blanks; return the next character ('' at end of input)."""
        while True:
            stripped = len(self.buf) - len(self.buf[self.pos :].lstrip(" \t\r\n\ufeff"))
            self.advance(max(stripped, self.pos))
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def remaining_bytes_digest(self) -> str:
        digest = hashlib.sha256(self.buf[self.pos :].encode("utf-8", "surrogateescape"))
        while data := self.handle.read(_ARRAY_CHUNK_BYTES):
            digest.update(data)
        return digest.hexdigest()


def open_json_array(handle: BinaryIO) -> RecordPosition:
    """Position of the first item of a JSON array file; ValueError if it is not one."""
    stream = _ArrayStream(handle, RecordPosition())
    if stream.skip_whitespace() != "[":
        raise ValueError("not a JSON array (first character is not '[')")
    stream.advance(stream.pos + 1)
    stream.skip_whitespace()
    return RecordPosition(0, stream.line, stream.byte_offset)


def iter_array_records(
    handle: BinaryIO,
    start: RecordPosition,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
) -> Iterator[SourceRecord]:
    """Yield the items of a JSON array from `start` (an item boundary, see open_json_array).

    A file cut off mid-item (as the ShareGPT slice is) yields its complete items and then
    one record saying where it was cut. Invalid JSON stops the split: the rest of the file
    becomes one record with the reason, so nothing is silently dropped.
    """
    stream = _ArrayStream(handle, start)
    decoder = _strict_decoder()
    index = start.index
    while True:
        char = stream.skip_whitespace()
        if char == "" or char == "]":
            if char == "]":
                stream.advance(stream.pos + 1)
                if stream.skip_whitespace():
                    yield _tail_record(stream, index, "unexpected content after the closing ']'")
            return
        if char == "," and index > start.index:
            stream.advance(stream.pos + 1)
            stream.skip_whitespace()
        item_start = stream.pos
        try:
            value, end = decoder.raw_decode(stream.buf, item_start)
            if end >= len(stream.buf) and not stream.eof:
                raise json.JSONDecodeError("incomplete", stream.buf, end)
        except json.JSONDecodeError as exc:
            incomplete = exc.msg.startswith("Unterminated string") or exc.pos >= len(stream.buf) - 1
            if incomplete and len(stream.buf) - item_start <= max_record_bytes and stream.fill():
                continue
            if incomplete and stream.eof:
                reason = "file ends inside an unfinished JSON item (the file was cut off)"
            elif incomplete:
                reason = f"JSON item longer than the {max_record_bytes}-byte limit; the rest of the file could not be split"
            else:
                reason = (
                    f"invalid JSON: {exc.msg}; the rest of the file could not be split into items"
                )
            yield _tail_record(stream, index, reason)
            return
        except RecursionError:
            yield _tail_record(
                stream,
                index,
                f"JSON nested deeper than {max_depth} levels; the rest of the file could not be split",
            )
            return
        item_text = stream.buf[item_start:end]
        item_bytes = item_text.encode("utf-8", "surrogateescape")
        sha = hashlib.sha256(item_bytes).hexdigest()
        line, offset = stream.line, stream.byte_offset
        stream.advance(end)
        error = None
        if len(item_bytes) > max_record_bytes:
            error = f"JSON item longer than the {max_record_bytes}-byte limit"
        elif any("\udc80" <= ch <= "\udcff" for ch in item_text) and _utf8_problem(item_bytes):
            error = _utf8_problem(item_bytes)
        else:
            error = _problem_in_value(value, max_depth)
        yield SourceRecord(index, line, offset, sha, value=None if error else value, error=error)
        index += 1
        if stream.skip_whitespace() not in (",", "]", ""):
            yield _tail_record(
                stream,
                index,
                "invalid JSON: expected ',' or ']' between items; the rest of the file could not be split",
            )
            return


def _tail_record(stream: _ArrayStream, index: int, reason: str) -> SourceRecord:
    line, offset = stream.line, stream.byte_offset
    return SourceRecord(index, line, offset, stream.remaining_bytes_digest(), error=reason)
