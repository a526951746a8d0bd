"""Credentials are replaced by their kind; look-alikes are left alone."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import span, write_lines
from training_assets.ingestion.landing import iter_batch_candidates, land_file
from training_assets.ingestion.raw_table import raw_spans_frame
from training_assets.validation.redaction import redact

GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS = "AKIA" + "Z7QW3RT5YU8IO2PL"
SLACK = "xoxb-" + "123456789012-1234567890123-abcdefghijklmnopqrstuvwx"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    "secret,kind",
    [
        (GITHUB, "github_token"),
        (AWS, "aws_access_key"),
        (SLACK, "slack_token"),
        (PRIVATE_KEY, "private_key"),
        ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "stripe_access_key"),
    ],
)
def test_secret_is_replaced_by_its_kind(secret: str, kind: str):
    text, kinds = redact(f"config: {secret} end")
    assert secret not in text and f"[REDACTED:{kind}]" in text and kinds == [kind]
    assert text.startswith("config: ") and text.endswith(" end")


def test_basic_auth_keeps_url_shape():
    text, kinds = redact("postgresql://admin:s3cr3tPa55@db.example.com:5432/app")
    assert "s3cr3tPa55" not in text and "admin:" in text and "@db.example.com" in text
    assert kinds == ["basic_auth_credentials"]


@pytest.mark.parametrize(
    "look_alike",
    [
        "commit 3f2a9c1b4e5d6f7a8b9c0d1e2f3a4b5c6d7e8f9a",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "AKIAIOSFODNN7EXAMPLE is the documented sample key",
        "AKIAXXXXXXXXEXAMPLE",
        "color #ff8800 and sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "https://example.com/path?x=1",
    ],
)
def test_look_alikes_are_untouched(look_alike: str):
    assert redact(look_alike) == (look_alike, [])


def test_no_secret_reaches_raw_spans(tmp_path: Path):
    path = write_lines(
        tmp_path / "s.jsonl",
        [
            span(1, this=f"my token is {GITHUB}", if_ok=f"rotate {AWS} now"),
            '{"id": "' + GITHUB + '", "broken": ',
        ],
    )
    landed, _ = land_file(path, tmp_path / "landing")
    batch = landed.batches[0]
    raw = raw_spans_frame(
        iter_batch_candidates(tmp_path / "landing", landed, batch),
        batch.key,
        landed.landed_name,
        "spans",
    )
    dumped = str(raw.rows())
    assert GITHUB not in dumped and AWS not in dumped
    assert raw["redactions"][0].to_list() == ["github_token", "aws_access_key"]
    assert raw.filter(pl.col("parse_error").is_not_null()).height == 1
