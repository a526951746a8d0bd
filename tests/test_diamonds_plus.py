"""diamonds_plus end to end on a real instance: dedup across batches, context, the gate,
the report — and no planted credential anywhere in what the pipeline wrote."""

from __future__ import annotations

import json
import os
import re
import string
from pathlib import Path

import dagster as dg
import polars as pl

from tests.conftest import span, write_lines
from tests.test_enzymes import token
from training_assets.definitions import build_definitions
from training_assets.ingestion.landing import land_file
from training_assets.partitions import batch_partitions

UPPER = string.ascii_uppercase + "234567"  # AWS key ids are base32


def planted_secrets() -> dict[str, str]:
    return {
        "aws": "AKIA" + token(16, UPPER),
        "hf": f"hf_{token(34, string.ascii_letters)}",
        "pat": f"github_pat_{token(22)}_{token(59)}",
        "password": token(18),
        "db": token(12) + "!9",
        "key_body": token(64),
    }


def land(workspace: Path, instance: dg.DagsterInstance, path: Path) -> str:
    landed, _ = land_file(path, workspace / "landing")
    instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    (key,) = landed.keys
    return key


def every_artifact_text(*roots: Path, skip: Path) -> str:
    """The bytes of every file the pipeline wrote, with Parquet decoded to text."""
    chunks = []
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or skip in path.parents:
                continue
            if path.suffix == ".parquet":
                chunks.append(json.dumps(pl.read_parquet(path).to_dicts(), default=str))
            else:
                chunks.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_diamonds_plus_end_to_end(workspace: Path, tmp_path: Path):
    instance = dg.DagsterInstance.get()
    defs = build_definitions(str(workspace))
    job = defs.resolve_job_def("curation_job")
    planted = planted_secrets()
    question = "How do I read a CSV file with pandas and skip the first two rows of it?"
    answer = "Use pandas.read_csv('data.csv', skiprows=2); the skiprows argument drops them."
    spans_file = write_lines(
        tmp_path / "spans.jsonl",
        [
            span(1, this=question, if_ok=answer, metadata={"quality_score": 95}),
            span(
                2,
                this=question,
                if_ok=answer.replace("drops", "removes"),
                metadata={"quality_score": 90},
            ),
            span(
                3,
                this="Which AWS key do I use?",
                if_ok=f"Use {planted['aws']} with the CLI, then run it.",
                metadata={"quality_score": 95},
            ),
            span(
                4,
                this="Fix this?",
                if_ok="Here:\n```python\ndef f(:\n    pass\n```\nThat is the fix.",
                metadata={"quality_score": 86},
            ),
            span(
                5,
                this="DB config please",
                if_ok=f'password = "{planted["password"]}"\nurl = "postgres://app:{planted["db"]}@db.internal/app"',
                metadata={"quality_score": 97},
            ),
            span(
                6,
                this="My key file",
                if_ok=f"-----BEGIN RSA PRIVATE KEY-----\n{planted['key_body']}\n-----END RSA PRIVATE KEY-----\nKeep it safe.",
                metadata={"quality_score": 97},
            ),
        ],
    )
    first = land(workspace, instance, spans_file)
    assert job.execute_in_process(partition_key=first, instance=instance).success

    conversation = {
        "id": "conv-1",
        "conversations": [
            {
                "from": "human",
                "value": f"My token is {planted['hf']}, can I share it in a public repository?",
            },
            {
                "from": "gpt",
                "value": "No. Revoke it and create a new one; tokens in public code are found within minutes.",
            },
            {
                "from": "human",
                "value": f"And this one, {planted['pat']}, what kind of token is that?",
            },
            {
                "from": "gpt",
                "value": "That is a fine-grained GitHub personal access token; treat it like a password.",
            },
            {"from": "human", "value": "Thanks. How do I store such tokens safely on my laptop?"},
            {
                "from": "gpt",
                "value": "Use your operating system's keychain or a password manager, never plain files.",
            },
        ],
    }
    other = {
        "id": "conv-2",
        "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
    }
    chat_file = write_lines(tmp_path / "chats.jsonl", [conversation, other])
    second = land(workspace, instance, chat_file)
    assert job.execute_in_process(partition_key=second, instance=instance).success

    kept1 = pl.read_parquet(workspace / "diamonds_plus" / f"{first}.parquet")
    rejected1 = pl.read_parquet(workspace / "diamonds_plus_rejected" / f"{first}.parquet")
    reasons = dict(zip(rejected1["id"], rejected1["reason"], strict=True))
    assert (
        reasons["span-2"].startswith("near_duplicate")
        and rejected1.filter(pl.col("id") == "span-2")["duplicate_of"][0] == "span-1"
    )
    assert reasons["span-4"].startswith("below_gate"), "broken code lowers quality under the gate"
    assert set(kept1["id"]) == {"span-1", "span-3", "span-5", "span-6"}

    kept2 = pl.read_parquet(workspace / "diamonds_plus" / f"{second}.parquet")
    rejected2 = pl.read_parquet(workspace / "diamonds_plus_rejected" / f"{second}.parquet")
    assert rejected2.select("reason", "duplicate_of").row(0) == ("exact_duplicate", "span-1")
    third_turn = kept2.filter(pl.col("turn_index") == 2)
    context = third_turn["context"][0]
    assert len(context) == 2 and context[1]["this"].startswith(
        "And this one, [REDACTED:github_fine_grained_pat]"
    )

    report = json.loads((workspace / "diamonds_plus_report" / f"{first}.json").read_text())
    assert report["total_processed"] == 6 and report["diamonds_plus"] == 4
    assert report["rejected_by_reason"] == {"near_duplicate": 1, "below_gate": 1}
    assert {e["name"] for e in report["enzymes"]} == {
        "semantic-enricher",
        "syntax-optimizer",
        "context-preserver",
        "security-enzyme",
    }
    assert all(e["seen"] == 5 for e in report["enzymes"])
    assert {"aws_access_token", "password_assignment", "private_key"} <= set(
        report["redactions_by_kind"]
    )
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("diamonds_plus_report"), asset_partitions=[first]
        ),
        limit=1,
    ).records
    assert records[0].asset_materialization.metadata["diamonds_plus"].value == 4
    table = records[0].asset_materialization.metadata["report"].value
    assert "| diamonds+ (quality ≥ 85) | 4 |" in table
    assert "|   rejected: near_duplicate | 1 |" in table
    kept_event = instance.get_latest_materialization_event(dg.AssetKey("diamonds_plus"))
    picture = kept_event.asset_materialization.metadata["quality_histogram"].value
    assert picture.startswith("![quality histogram](data:image/png;base64,iVBORw0KGgo")
    logs = [r.event_log_entry.user_message for r in instance.get_records_for_run(
        kept_event.run_id).records]  # fmt: skip
    progress = [m for m in logs if m.startswith("through the enzymes ")]
    assert progress and re.match(r"through the enzymes (\d+)/\1 \([\d.]+/s, ETA ", progress[-1])

    written = every_artifact_text(
        workspace, Path(os.environ["DAGSTER_HOME"]), skip=workspace / "landing"
    )
    assert "[REDACTED:huggingface_access_token]" in written
    leaked = [name for name, secret in planted.items() if secret in written]
    assert leaked == [], f"credentials leaked into artifacts: {leaked}"
