"""Bad input never crashes a run, is never lost, and always gets an actionable reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import span, write_lines
from training_assets.ingestion.landing import iter_batch_candidates, land_file
from training_assets.ingestion.raw_table import raw_spans_frame
from training_assets.validation.split import split_diamonds


def curate(
    path: Path,
    landing: Path,
    max_record_bytes: int = 1 << 20,
    min_quality: float = 80,
    fmt: str = "auto",
):
    landed, _ = land_file(path, landing, fmt, max_record_bytes=max_record_bytes)
    frames = []
    for batch in landed.batches:
        candidates = iter_batch_candidates(landing, landed, batch, max_record_bytes)
        frames.append(raw_spans_frame(candidates, batch.key, landed.landed_name, landed.format))
    raw = pl.concat(frames)
    diamonds, quarantine, summary = split_diamonds(
        raw, min_quality, datetime.fromisoformat(landed.landed_at)
    )
    return landed, raw, diamonds, quarantine


BAD_LINES = [
    ('{"id": "x1", "who": "a", ', "invalid JSON"),
    (
        '{"id": 7, "who": "a", "did": "b", "this": "c", "when": "2026-01-01T00:00:00Z", "status": "completed", "if_ok": "d"}',
        "field 'id' must be a string, got number",
    ),
    (span(2, who=None), "missing required field 'who'"),
    (span(3, when="yesterday"), "not an ISO 8601 timestamp"),
    (span(4, when="2026-11-01T12:00:00"), "no UTC offset"),
    (span(5, metadata={"quality_score": 120}), "within 0–100"),
    (
        '{"id": "n", "who": "a", "did": "b", "this": "c", "when": "2026-01-01T00:00:00Z", "status": "completed", "if_ok": "d", "metadata": {"quality_score": NaN}}',
        "non-standard JSON constant NaN",
    ),
    (
        '{"id": "i", "who": "a", "did": "b", "this": "c", "when": "2026-01-01T00:00:00Z", "status": "completed", "if_ok": "d", "metadata": {"quality_score": Infinity}}',
        "non-standard JSON constant Infinity",
    ),
    (b'{"id": "u", "who": "\xff\xfe", "did": "b"}', "not valid UTF-8"),
    ("", "blank line"),
    ("   ", "blank line"),
    ("[" * 5000 + "]" * 5000, "nested deeper than"),
    (span(6, this="   "), "blank required field 'this'"),
    (span(7, status="done"), "field 'status' must be one of"),
    (span(8, if_ok=None), "completed span lacks 'if_ok'"),
    (span(9, status="pending", if_ok=None), "status is pending"),
    (span(10, metadata={"quality_score": 50}), "quality 50 below the diamond threshold 80"),
    (span(11, metadata={"quality_score": True}), "must be a number, got boolean"),
    ('"just a string"', "expected a JSON object, got string"),
    (span(12, context="prod"), "field 'context' must be an object"),
    # issue 16: hostile input that used to kill the batch or slip through
    ('{"id": "s1", "this": "\\ud800"}', "lone UTF-16 surrogate \\ud800 in field 'this'"),
    (
        span(13, metadata={"note": {"deep": "x\udfff"}}),
        "lone UTF-16 surrogate \\udfff in field 'deep'",
    ),
    (span(14, context={"\ud801": "k"}), "lone UTF-16 surrogate \\ud801 in a key"),
    (span(15, when=None), "missing required field 'when'"),
    (
        '{"id": "w", "who": "a", "did": "b", "this": "c", "when": null, "status": "completed", "if_ok": "d"}',
        "missing required field 'when'",
    ),
    (span(16, metadata={"quality_score": 10**400}), "'metadata.quality_score' is out of range"),
    (
        '{"id": "b", "who": "a", "did": "b", "this": "c", "when": "2026-01-01T00:00:00Z", "status": "completed", "if_ok": "d", "metadata": {"big": 1'
        + "0" * 4400
        + "}}",
        "integer of 4401 digits in field 'big'",
    ),
]


def test_every_bad_line_is_quarantined_with_its_reason(tmp_path: Path):
    good = [span(100), span(101)]
    lines = [good[0]] + [line for line, _ in BAD_LINES] + [good[1], span(100, this="a later copy")]
    path = write_lines(tmp_path / "spans.jsonl", lines)
    _, raw, diamonds, quarantine = curate(path, tmp_path / "landing")

    assert diamonds["id"].to_list() == ["span-100", "span-101"]
    assert raw.height == len(lines) == diamonds.height + quarantine.height
    reasons = dict(
        zip(quarantine["line_number"].to_list(), quarantine["reason"].to_list(), strict=True)
    )
    for offset, (_, expected) in enumerate(BAD_LINES):
        assert expected in reasons[offset + 2], (offset + 2, reasons[offset + 2])
    assert "duplicate id; first seen at line 1" in reasons[len(lines)]
    assert set(quarantine["line_number"]) | {1, len(BAD_LINES) + 2} == set(range(1, len(lines) + 1))


def test_quarantine_keeps_a_hash_never_the_line(tmp_path: Path):
    secret_line = '{"id": "s", "who": "a", "password_hint": "hunter2-very-private", '
    path = write_lines(tmp_path / "spans.jsonl", [secret_line])
    _, _, _, quarantine = curate(path, tmp_path / "landing", fmt="spans")
    assert quarantine.height == 1
    dumped = str(quarantine.rows())
    assert "hunter2" not in dumped
    import hashlib

    assert quarantine["line_sha256"][0] == hashlib.sha256(secret_line.encode() + b"\n").hexdigest()


def test_bom_crlf_and_missing_final_newline_are_accepted(tmp_path: Path):
    import json

    body = b"\xef\xbb\xbf" + json.dumps(span(1)).encode() + b"\r\n" + json.dumps(span(2)).encode()
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(body)
    _, raw, diamonds, quarantine = curate(path, tmp_path / "landing")
    assert diamonds["id"].to_list() == ["span-1", "span-2"]
    assert quarantine.height == 0


def test_absurdly_long_line_is_rejected_before_parsing(tmp_path: Path):
    long_line = '{"id": "big", "this": "' + "x" * 5000 + '"}'
    path = write_lines(tmp_path / "spans.jsonl", [span(1), long_line, span(2)])
    _, raw, diamonds, quarantine = curate(path, tmp_path / "landing", max_record_bytes=1000)
    assert diamonds["id"].to_list() == ["span-1", "span-2"]
    assert quarantine["reason"].to_list() == ["line longer than the 1000-byte limit (not parsed)"]
    assert quarantine["line_number"].to_list() == [2]


def test_timestamps_are_normalised_to_utc(tmp_path: Path):
    path = write_lines(
        tmp_path / "spans.jsonl",
        [span(1, when="2026-11-01T12:00:00+02:00"), span(2, when="2026-11-01T10:00:00Z")],
    )
    _, _, diamonds, _ = curate(path, tmp_path / "landing")
    assert diamonds["when"].to_list() == [datetime(2026, 11, 1, 10, tzinfo=UTC)] * 2
    assert str(diamonds.schema["when"]) == "Datetime(time_unit='us', time_zone='UTC')"


@pytest.mark.parametrize("threshold,expected", [(80, 1), (95, 0), (50, 2)])
def test_diamond_threshold_is_configurable(tmp_path: Path, threshold: float, expected: int):
    path = write_lines(
        tmp_path / "spans.jsonl",
        [span(1, metadata={"quality_score": 90}), span(2, metadata={"quality_score": 60})],
    )
    _, _, diamonds, quarantine = curate(path, tmp_path / "landing", min_quality=threshold)
    assert diamonds.height == expected and diamonds.height + quarantine.height == 2


def test_chat_exports_quarantine_hostile_records_and_keep_their_neighbours(tmp_path: Path):
    """Alpaca `instruction: null` with an input, blank ids, surrogates in ShareGPT turns."""
    alpaca = write_lines(
        tmp_path / "alpaca.jsonl",
        [
            {"instruction": "Add 2 and 2.", "input": "", "output": "4"},
            {"instruction": None, "input": "2 + 2", "output": "4"},
            {"id": " ", "instruction": "Say hi.", "output": "Hi!"},
            {"instruction": "Name a colour.", "output": "Blue."},
        ],
    )
    _, raw, diamonds, quarantine = curate(
        alpaca, tmp_path / "landing-a", min_quality=0, fmt="alpaca"
    )
    assert raw.height == 4 == diamonds.height + quarantine.height
    assert not any(t.startswith("None") for t in diamonds["this"].to_list())
    reasons = " | ".join(quarantine["reason"].to_list())
    assert "has an 'input' but no 'instruction'" in reasons and "field 'id' is blank" in reasons

    sharegpt = tmp_path / "chat.json"
    turns = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
    sharegpt.write_text(
        "["
        + ", ".join(
            [
                json.dumps({"id": "ok-1", "conversations": turns}),
                '{"id": "bad", "conversations": [{"from": "human", "value": "\\ud800"}, '
                '{"from": "gpt", "value": "x"}]}',
                json.dumps({"id": " ", "conversations": turns}),
                json.dumps({"id": "ok-2", "conversations": turns}),
            ]
        )
        + "]"
    )
    _, raw, diamonds, quarantine = curate(
        sharegpt, tmp_path / "landing-s", min_quality=0, fmt="sharegpt"
    )
    assert sorted(diamonds["thread_id"].to_list()) == ["ok-1", "ok-2"]
    reasons = " | ".join(quarantine["reason"].to_list())
    assert "lone UTF-16 surrogate \\ud800" in reasons and "field 'id' is blank" in reasons


def test_a_first_line_that_is_an_array_does_not_swallow_the_lines_after_it(tmp_path: Path):
    """`[]` then spans, and a JSON array followed by JSON lines: every line is a record."""
    for first in ("[]", json.dumps([span(90), span(91)])):
        path = write_lines(tmp_path / f"s{len(first)}.jsonl", [first, span(1), span(2)])
        landed, raw, diamonds, quarantine = curate(path, tmp_path / f"landing{len(first)}")
        assert landed.format == "spans" and raw.height == 3
        assert diamonds["id"].to_list() == ["span-1", "span-2"]
        assert "expected a JSON object, got array" in quarantine["reason"][0]


def test_unreadable_paths_say_what_they_are(tmp_path: Path):
    from training_assets.ingestion.landing import FormatError

    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "missing.jsonl")
    gz = tmp_path / "spans.jsonl.gz"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)
    cases = {
        tmp_path: "is a directory",
        loop: "cannot be read",
        dangling: "broken symbolic link",
        tmp_path / "absent.jsonl": "no such file",
        gz: "the gzip stream is damaged or cut off",
    }
    for path, expected in cases.items():
        with pytest.raises(FormatError, match=expected):
            land_file(path, tmp_path / "landing")
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").iterdir())


def test_auto_reads_a_first_line_longer_than_the_sniff_window(tmp_path: Path):
    long_answer = "word " * 20_000  # 100 kB, past the 64 KiB sniff window
    path = write_lines(tmp_path / "long.jsonl", [span(1, if_ok=long_answer), span(2)])
    landed, raw, diamonds, _ = curate(path, tmp_path / "landing")
    assert landed.format == "spans" and diamonds.height == 2


def test_the_same_bytes_under_another_format_are_refused(tmp_path: Path):
    from training_assets.ingestion.landing import FormatError

    path = write_lines(tmp_path / "a.jsonl", [{"instruction": "Say hi.", "output": "Hi!"}])
    land_file(path, tmp_path / "landing", "alpaca")
    land_file(path, tmp_path / "landing", "auto")  # the same again is fine
    with pytest.raises(FormatError, match="landed already as alpaca"):
        land_file(path, tmp_path / "landing", "spans")


def test_the_accounting_counts_records_in_the_file_not_in_the_plan(tmp_path: Path):
    from dataclasses import replace

    from training_assets.ingestion.landing import records_found_in_file
    from training_assets.validation.assets import accounting_problems

    lines = [span(i) for i in range(7)] + ["", '{"broken": ']
    path = write_lines(tmp_path / "s.jsonl", lines)
    landed, raw, diamonds, quarantine = curate(path, tmp_path / "landing")
    (batch,) = landed.batches
    found = records_found_in_file(tmp_path / "landing", landed, batch, 1 << 20)
    assert found == len(lines) == batch.records
    assert accounting_problems(batch.records, raw, diamonds, quarantine, found) == []
    # a plan that says fewer records than the file holds is caught by the file's count
    short = replace(batch, records=batch.records - 2)
    assert accounting_problems(short.records, raw, diamonds, quarantine, found)

    array = tmp_path / "chat.json"
    turns = [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]
    array.write_text(json.dumps([{"id": f"c{i}", "conversations": turns} for i in range(5)])[:-30])
    landed, *_ = curate(array, tmp_path / "landing-array", min_quality=0, fmt="sharegpt")
    (batch,) = landed.batches
    assert (
        records_found_in_file(tmp_path / "landing-array", landed, batch, 1 << 20) == batch.records
    )


@pytest.mark.parametrize("container", ["lines", "array"])
def test_small_batches_together_hold_every_record_of_the_file(tmp_path: Path, container: str):
    from training_assets.ingestion.landing import records_found_in_file

    records = [span(i) for i in range(10)]
    if container == "lines":
        path = write_lines(tmp_path / "s.jsonl", records + ["[]"])
        total = 11
    else:
        path = tmp_path / "s.json"
        path.write_text(json.dumps(records, indent=1))
        total = 10
    landed, _ = land_file(path, tmp_path / "landing", batch_size=3)
    assert len(landed.batches) >= 3
    found = [
        records_found_in_file(tmp_path / "landing", landed, b, 1 << 20) for b in landed.batches
    ]
    assert found == [b.records for b in landed.batches] and sum(found) == total


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".bz2", ".xz"])
def test_compressed_inputs_are_read_as_their_text(tmp_path: Path, suffix: str):
    import bz2
    import gzip
    import lzma

    import zstandard

    compress = {
        ".gz": gzip.compress,
        ".zst": zstandard.ZstdCompressor().compress,
        ".bz2": bz2.compress,
        ".xz": lzma.compress,
    }[suffix]
    plain = write_lines(tmp_path / "plain.jsonl", [span(1), '{"broken": ', span(2)])
    packed = tmp_path / f"spans.jsonl{suffix}"
    packed.write_bytes(compress(plain.read_bytes()))
    landed, raw, diamonds, quarantine = curate(packed, tmp_path / "landing")
    assert landed.landed_name.endswith(".jsonl") and landed.format == "spans"
    assert diamonds["id"].to_list() == ["span-1", "span-2"]
    assert quarantine["line_number"].to_list() == [2], "rows point at decompressed lines"
    again, new = land_file(plain, tmp_path / "landing")
    assert not new and again.sha256 == landed.sha256, "the same text, compressed or not"
    cut = tmp_path / f"cut.jsonl{suffix}"
    cut.write_bytes(compress(plain.read_bytes())[:-8])
    from training_assets.ingestion.landing import FormatError

    with pytest.raises(FormatError, match="damaged or cut off"):
        land_file(cut, tmp_path / "landing")
    assert not list((tmp_path / "landing").glob(".incoming-*"))


def test_a_compressed_file_dropped_into_landing_is_adopted_as_its_text(tmp_path: Path):
    import gzip

    from training_assets.ingestion.landing import adopt_file

    landing = tmp_path / "landing"
    landing.mkdir()
    plain = write_lines(tmp_path / "plain.jsonl", [span(1), span(2)])
    dropped = landing / "logs.jsonl.gz"
    dropped.write_bytes(gzip.compress(plain.read_bytes()))
    landed, new = adopt_file(dropped, landing)
    assert new and landed.records == 2 and landed.landed_name.endswith(".jsonl")
    assert (
        not dropped.exists() and (landing / landed.landed_name).read_bytes() == plain.read_bytes()
    )


def test_a_truncated_upstream_parquet_file_is_a_clear_failure(workspace: Path, tmp_path: Path):
    import dagster as dg

    from tests.conftest import land_and_curate
    from training_assets.definitions import build_definitions

    instance = dg.DagsterInstance.get()
    key = land_and_curate(
        workspace, write_lines(tmp_path / "s.jsonl", [span(1), span(2)]), instance
    )
    table = workspace / "diamond_spans" / f"{key}.parquet"
    table.write_bytes(table.read_bytes()[: table.stat().st_size // 2])
    result = (
        build_definitions(str(workspace))
        .resolve_job_def("curation_job")
        .execute_in_process(
            partition_key=key,
            instance=instance,
            asset_selection=[dg.AssetKey("enriched_spans")],
            raise_on_error=False,
        )
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "cannot be read as Parquet" in message and "--select diamond_spans" in message
    assert f"--partition {key}" in message
