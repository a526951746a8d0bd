"""The promise, audited: credentials planted in every place a span holds text go through
ingest → curation (diamonds+, kernel_state) → training_dataset, and nothing the pipeline
wrote — tables, indexes, reports, the SQLite event log and run logs under DAGSTER_HOME,
the training set's token ids decoded back to text — holds any of them or any 8-character
piece of one. landing/ is the only place the original bytes stay."""

from __future__ import annotations

import json
import os
import sqlite3
import string
from pathlib import Path

import dagster as dg
import polars as pl
from transformers import AutoTokenizer

from resources import BaseModelResource
from tests.conftest import span, write_lines
from tests.test_enzymes import token
from tests.test_redaction import jwt, leaked_piece
from training_assets.definitions import build_definitions
from training_assets.ingestion.landing import land_file
from training_assets.partitions import batch_partitions

BASE32 = string.ascii_uppercase + "234567"
B64 = string.ascii_letters + string.digits + "+/"


def planted() -> dict[str, str]:
    return {
        "github": "ghp_" + token(36),
        "aws_id": "AKIA" + token(16, BASE32),
        "aws_secret": token(40, B64),
        "stripe": "sk_live_" + token(60),
        "slack": f"xoxb-{token(12, string.digits)}-{token(13, string.digits)}-{token(24)}",
        "jwt": jwt(),
        "pypi": "pypi-AgEIcHlwaS5vcmc" + token(64, string.ascii_letters + string.digits + "_-"),
        "hf": "hf_" + token(34, string.ascii_letters),
        "password": token(14) + "!q",
        "api_key": token(32, "0123456789abcdef"),
        "db": token(12) + "#7",
        "bare_key": token(30),
        "key_body": "\n".join(token(64, B64) for _ in range(6)),
    }


def dump_sqlite(path: Path) -> str:
    """Every text and blob cell of every table, as text."""
    out = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("select name from sqlite_master where type='table'")]
        for table in tables:
            for row in db.execute(f'select * from "{table}"'):
                for cell in row:
                    if isinstance(cell, bytes):
                        out.append(cell.decode("utf-8", "replace"))
                    elif cell is not None:
                        out.append(str(cell))
    return "\n".join(out)


def everything_written(roots: list[Path], skip: Path, tokenizer) -> list[tuple[Path, str]]:
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or skip in path.parents:
                continue
            raw = path.read_bytes()
            texts = [raw.decode("utf-8", "replace")]
            if path.suffix == ".parquet":
                frame = pl.read_parquet(path)
                texts.append(json.dumps(frame.to_dicts(), default=str, ensure_ascii=False))
                if "input_ids" in frame.columns:
                    texts += [tokenizer.decode(ids) for ids in frame["input_ids"].to_list()]
            elif raw.startswith(b"SQLite format 3"):
                texts.append(dump_sqlite(path))
            found.append((path, "\n".join(texts)))
    return found


def test_no_planted_credential_survives_anywhere(workspace: Path, tmp_path: Path, tiny_model_dir):
    secrets = planted()
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{secrets['key_body']}\n-----END RSA PRIVATE KEY-----"
    spans_file = write_lines(
        tmp_path / "spans.jsonl",
        [
            span(1, this=f"My deploy fails with {secrets['github']}, why?",
                 if_ok="Rotate that token first; never paste it in a chat.",
                 metadata={"quality_score": 96}),
            span(2, this="Here is ~/.aws/credentials, what is wrong?",
                 if_ok=f"[default]\naws_access_key_id = {secrets['aws_id']}\n"
                 f"aws_secret_access_key = {secrets['aws_secret']}\nThe region line is missing.",
                 metadata={"quality_score": 95}),
            span(3, this="Why does Stripe say the key is invalid?",
                 if_ok=f"You set stripe.api_key = '{secrets['stripe']}' in test mode.",
                 context={"environment": "python", "system": f"Slack bot: {secrets['slack']}"},
                 metadata={"quality_score": 94, "note": f"pypirc had password = {secrets['pypi']}"}),
            span(4, this=f"curl -H 'Authorization: Bearer {secrets['jwt']}' returns 401",
                 if_ok=f"The JWT expired. Also API_KEY={secrets['api_key']} is in your log.",
                 metadata={"quality_score": 93}),
            span(5, this=f"Connect with postgres://app:{secrets['db']}@db.internal/app?",
                 if_ok=f"Yes, and keep password = \"{secrets['password']}\" out of git.\n{pem}",
                 metadata={"quality_score": 97}),
            span(6, this=f"export SERVICE_TOKEN={secrets['bare_key']}",
                 if_ok="Put it in a secrets manager instead.", metadata={"quality_score": 92}),
            span(7, this=f"Is {secrets['bare_key']} still valid after the rotation?",
                 if_ok="No: a rotated key stops working at once.", metadata={"quality_score": 95}),
            '{"id": "broken", "this": "' + secrets["hf"] + '", ',
        ],
    )  # fmt: skip
    chat_file = tmp_path / "chat.json"
    chat_file.write_text(
        json.dumps(
            [
                {
                    "id": "conv-1",
                    "system": f"Internal key {secrets['hf']} (do not share)",
                    "conversations": [
                        {"from": "human", "value": f"My token is {secrets['hf']}, is it safe?"},
                        {"from": "gpt", "value": "No. Revoke it on the settings page now."},
                        {"from": "human", "value": f"And {secrets['bare_key']} from before?"},
                        {"from": "gpt", "value": "Revoke that one too; treat both as leaked."},
                    ],
                    "source": f"exported with API_KEY={secrets['api_key']}",
                }
            ]
        )
    )
    instance = dg.DagsterInstance.get()
    defs = build_definitions(str(workspace))
    curation = defs.resolve_job_def("curation_job")
    for path in (spans_file, chat_file):
        landed, _ = land_file(path, workspace / "landing")
        instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
        for key in landed.keys:
            assert curation.execute_in_process(partition_key=key, instance=instance).success
    tiny = BaseModelResource(model=str(tiny_model_dir), cache_dir=str(workspace / "models"))
    result = dg.materialize(
        [defs.get_assets_def("training_dataset")],
        instance=instance,
        resources={**defs.resources, "base_model": tiny},
        run_config={"ops": {"training_dataset": {"config": {"max_seq_len": 512}}}},
    )
    assert result.success
    dataset = pl.read_parquet(workspace / "training_dataset.parquet")
    assert dataset.height >= 8, "the planted spans must reach the training set to test it"

    home = Path(os.environ["DAGSTER_HOME"])
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    files = everything_written([workspace, home], workspace / "landing", tokenizer)
    sqlite_files = [p for p, _ in files if p.read_bytes().startswith(b"SQLite format 3")]
    assert sqlite_files, "the instance's SQLite storage is part of the audit"
    leaks = [
        (name, str(path))
        for path, text in files
        for name, secret in secrets.items()
        for piece in [secret] + secret.split("\n")
        if leaked_piece(piece, text)
    ]
    assert leaks == [], f"planted credentials found in what the pipeline wrote: {leaks[:10]}"

    landed_bytes = b"".join(
        p.read_bytes() for p in (workspace / "landing").rglob("*") if p.is_file()
    )
    assert secrets["github"].encode() in landed_bytes, "landing/ keeps the original bytes"
    report = json.loads(next((workspace / "diamonds_plus_report").glob("*.json")).read_text())
    assert "redactions_by_kind" in report
    raw = pl.concat([pl.read_parquet(p) for p in (workspace / "raw_spans").glob("*.parquet")])
    kinds = [k for row in raw["redactions"].to_list() for k in row]
    # a value two rules find is named by the one that starts first; these three are sure
    assert {"github_pat", "aws_access_token", "private_key"} <= set(kinds) and len(kinds) >= 13
