"""Formats are detected and converted; landing is content-addressed and batches are exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import span, write_lines
from training_assets.ingestion.formats import FormatError, detect_layout
from training_assets.ingestion.landing import find_manifest, iter_batch_candidates, land_file

SHAREGPT = [
    {
        "id": "conv1",
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "What is 2+2?"},
            {"from": "gpt", "value": "4."},
            {"from": "human", "value": "And times 3?"},
            {"from": "gpt", "value": "12."},
        ],
    },
    {
        "id": "conv2",
        "conversations": [
            {"from": "gpt", "value": "orphan answer"},
            {"from": "human", "value": "hi"},
        ],
    },
]


def all_candidates(landing: Path, landed):
    return [c for batch in landed.batches for c in iter_batch_candidates(landing, landed, batch)]


def test_sharegpt_pairs_keep_thread_context(tmp_path: Path):
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(SHAREGPT, indent=2))
    landed, _ = land_file(path, tmp_path / "landing")
    assert (landed.format, landed.container) == ("sharegpt", "array")
    rows = all_candidates(tmp_path / "landing", landed)
    spans = [c.fields for c in rows if c.error is None]
    assert [s["id"] for s in spans] == ["conv1:0", "conv1:1"]
    assert spans[1]["thread_id"] == "conv1" and spans[1]["parent_id"] == "conv1:0"
    assert spans[0]["system"] == "Be brief." and spans[1]["this"] == "And times 3?"
    errors = sorted(c.error for c in rows if c.error)
    assert {c.error_category for c in rows if c.error} == {"filtered"}
    assert errors == [
        "assistant turn with no user turn before it (turn 0)",
        "user turn with no assistant reply (turn 1)",
    ]
    assert rows[0].record.line_number == 2  # the item starts on line 2 of the pretty-printed array


def test_truncated_json_array_keeps_complete_items(tmp_path: Path):
    text = json.dumps(SHAREGPT + SHAREGPT, indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) - 40])
    landed, _ = land_file(path, tmp_path / "landing")
    rows = all_candidates(tmp_path / "landing", landed)
    assert rows[-1].error == "file ends inside an unfinished JSON item (the file was cut off)"
    assert landed.records == 4  # three complete conversations + the cut one


def test_alpaca_and_openai_formats(tmp_path: Path):
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(
        json.dumps([{"instruction": "Translate", "input": "bonjour", "output": "hello"}])
    )
    openai = write_lines(
        tmp_path / "openai.jsonl",
        [
            {
                "messages": [
                    {"role": "system", "content": "S"},
                    {"role": "user", "content": "Q"},
                    {"role": "assistant", "content": "A"},
                ]
            }
        ],
    )
    landed_a, _ = land_file(alpaca, tmp_path / "landing")
    landed_o, _ = land_file(openai, tmp_path / "landing")
    assert (landed_a.format, landed_o.format) == ("alpaca", "openai")
    (a,) = all_candidates(tmp_path / "landing", landed_a)
    (o,) = all_candidates(tmp_path / "landing", landed_o)
    assert a.fields["this"] == "Translate\n\nbonjour" and a.fields["if_ok"] == "hello"
    assert (o.fields["this"], o.fields["if_ok"], o.fields["system"]) == ("Q", "A", "S")


@pytest.mark.parametrize(
    "content,why",
    [
        (b"", "file is empty"),
        (b"\x00\x01\x02binary", "not JSON lines or a JSON array"),
        ("[1]".encode("utf-16"), "UTF-16"),
        (b"hello world\n", "not JSON lines or a JSON array"),
        (b'{"foo": 1}\n', "none of the first lines"),
        (b"[]", "the JSON array is empty"),
    ],
)
def test_unreadable_file_gets_a_clear_error_and_leaves_no_trace(
    tmp_path: Path, content: bytes, why: str
):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(FormatError) as error:
        land_file(path, tmp_path / "landing")
    assert str(path) in str(error.value) and why in str(error.value)
    assert path.read_bytes() == content
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").iterdir())


def test_missing_file_and_unknown_format(tmp_path: Path):
    with pytest.raises(FormatError, match="no such file"):
        detect_layout(tmp_path / "nope.jsonl")
    path = write_lines(tmp_path / "s.jsonl", [span(1)])
    with pytest.raises(FormatError, match="unknown format"):
        detect_layout(path, "csv")


def test_same_content_twice_is_recognised(tmp_path: Path):
    first = write_lines(tmp_path / "a.jsonl", [span(1), span(2)])
    second = tmp_path / "renamed copy.jsonl"
    second.write_bytes(first.read_bytes())
    landed, new = land_file(first, tmp_path / "landing")
    again, new_again = land_file(second, tmp_path / "landing")
    assert new and not new_again and again.keys == landed.keys
    files = [p for p in (tmp_path / "landing").iterdir() if p.is_file()]
    assert len(files) == 1 and landed.sha256[:12] in files[0].name
    assert find_manifest(tmp_path / "landing", landed.keys[0]).sha256 == landed.sha256


def test_large_file_is_split_into_exact_batches(tmp_path: Path):
    path = write_lines(
        tmp_path / "many.jsonl",
        [span(i) for i in range(25)] + ["not json"] + [span(i) for i in range(25, 40)],
    )
    landed, _ = land_file(path, tmp_path / "landing", batch_size=10)
    assert [b.spans for b in landed.batches] == [10, 10, 10, 10, 1]
    seen = [c.record.line_number for c in all_candidates(tmp_path / "landing", landed)]
    assert seen == list(range(1, 42))
    assert [k.rsplit("-", 1)[1] for k in landed.keys] == ["000", "001", "002", "003", "004"]


def test_conversation_never_straddles_batches(tmp_path: Path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps([SHAREGPT[0]] * 5))
    landed, _ = land_file(path, tmp_path / "landing", batch_size=3)
    assert [(b.records, b.spans) for b in landed.batches] == [(2, 4), (2, 4), (1, 2)]
    rows = all_candidates(tmp_path / "landing", landed)
    assert [r.record.index for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
