"""The feedback store: schema migrations, concurrent writers, clear errors, stats,
patterns and the export to landing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from training_assets.feedback.analysis import (
    feedback_patterns,
    feedback_stats,
    response_traits,
    wilson_interval,
)
from training_assets.feedback.export import export_feedback, feedback_span
from training_assets.feedback.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    FeedbackStore,
    FeedbackStoreError,
    Interaction,
)


def interaction(i: int, **overrides) -> Interaction:
    fields = {
        "query": f"question {i}",
        "response": f"answer {i}",
        "model_version": "m1",
        "feedback": "positive",
        "score": 4.0,
        "intent": "howto",
        "confidence": 0.9,
        "session": "s1",
    }
    return Interaction(**(fields | overrides))


def test_a_missing_store_is_an_error_unless_created(tmp_path: Path):
    path = tmp_path / "feedback.db"
    with pytest.raises(FeedbackStoreError, match="no feedback store"):
        FeedbackStore.open(path)
    assert not path.exists()
    with FeedbackStore.open(path, create=True) as store:
        assert store.schema_version == SCHEMA_VERSION
        store.record(interaction(1))
    with FeedbackStore.open(path) as store:
        assert store.count() == 1


def test_a_corrupt_or_foreign_file_is_refused_and_left_alone(tmp_path: Path):
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite at all" * 100)
    before = corrupt.read_bytes()
    with pytest.raises(FeedbackStoreError, match="not a readable feedback store"):
        FeedbackStore.open(corrupt, create=True)
    assert corrupt.read_bytes() == before

    foreign = tmp_path / "foreign.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    with pytest.raises(FeedbackStoreError, match="not a feedback store"):
        FeedbackStore.open(foreign)

    newer = tmp_path / "newer.db"
    FeedbackStore.open(newer, create=True).close()
    db = sqlite3.connect(newer)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(FeedbackStoreError, match="newer than this code"):
        FeedbackStore.open(newer)


def test_an_old_schema_is_migrated_and_keeps_its_rows(tmp_path: Path):
    path = tmp_path / "feedback.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version=1")
    db.execute(
        "INSERT INTO interactions (created_at, model_version, query, response, feedback, score) "
        "VALUES ('2026-11-01T00:00:00+00:00', 'm0', 'q', 'r', 'positive', 5)"
    )
    db.commit()
    db.close()
    with FeedbackStore.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        [row] = store.rows()
        assert row["query"] == "q" and row["exported_at"] is None


def test_bad_interactions_are_refused_with_the_reason(tmp_path: Path):
    with FeedbackStore.open(tmp_path / "f.db", create=True) as store:
        for bad, reason in (
            (interaction(1, feedback="great"), "feedback must be one of"),
            (interaction(1, score=7.0), "score must be within 0–5"),
            (interaction(1, query="  "), "must not be blank"),
            (interaction(1, confidence=1.5), "confidence must be within 0–1"),
        ):
            with pytest.raises(ValueError, match=reason):
                store.record(bad)
        assert store.count() == 0


WRITER = r"""
import sys
from pathlib import Path
from training_assets.feedback.store import FeedbackStore, Interaction
writer, count = sys.argv[2], int(sys.argv[3])
with FeedbackStore.open(Path(sys.argv[1])) as store:
    for i in range(count):
        store.record(Interaction(f"q {writer} {i}", "a", "m1", "positive", 4.0, session=writer))
"""


def test_concurrent_writers_lose_nothing(tmp_path: Path):
    path = tmp_path / "feedback.db"
    FeedbackStore.open(path, create=True).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"w{n}", "150"])
        for n in range(4)
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0, 0, 0]
    with FeedbackStore.open(path) as store:
        rows = list(store.rows())
    assert len(rows) == 600
    assert len({row["query"] for row in rows}) == 600


def test_stats_by_period_and_model_version(tmp_path: Path):
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    with FeedbackStore.open(tmp_path / "f.db", create=True) as store:
        store.record(interaction(1, feedback="positive", score=5.0, created_at=now.isoformat()))
        store.record(interaction(2, feedback="negative", score=1.0, created_at=now.isoformat()))
        store.record(
            interaction(3, feedback="positive", score=4.0, model_version="m2", session="s2",
                        created_at="2026-11-20T10:00:00+00:00")
        )  # fmt: skip
        store.record(
            interaction(4, feedback="neutral", score=None, session="s2",
                        created_at="2026-11-21T23:59:00+00:00")
        )  # fmt: skip
        rows = list(store.rows())
    all_time = feedback_stats(rows, "all", now=now)
    assert all_time["overall"] == {
        "total": 4,
        "positive": 2,
        "negative": 1,
        "neutral": 1,
        "satisfaction": 0.25,
        "positive_rate": 0.5,
        "mean_score": round(10 / 3, 4),
    }
    assert all_time["by_model_version"]["m2"]["total"] == 1
    today = feedback_stats(rows, "today", now=now)["overall"]
    assert today["total"] == 2 and today["satisfaction"] == 0.0
    session = feedback_stats(rows, "session", session="s2", now=now)["overall"]
    assert session["total"] == 2


def test_patterns_find_the_traits_that_go_with_bad_feedback():
    rows = []
    for i in range(40):
        refusing = i % 2 == 0
        rows.append(
            {
                "id": i,
                "feedback": "negative" if refusing else "positive",
                "score": 1.0 if refusing else 4.5,
                "intent": "howto",
                "response": "I'm sorry, as an AI I cannot help with that."
                if refusing
                else "```python\nprint('hi')\n```\nRun it.",
            }
        )
    found = {p["pattern"]: p for p in feedback_patterns(rows)["patterns"]}
    assert found["refuses"]["verdict"] == "bad" and found["refuses"]["count"] == 20
    assert found["has_code"]["verdict"] == "good"
    assert found["intent:howto"]["verdict"] == "unclear"
    assert "apologizes" in response_traits("Sorry about that.")
    low, high = wilson_interval(5, 10)
    assert low < 0.5 < high


def test_export_lands_good_interactions_once_as_valid_spans(tmp_path: Path):
    landing = tmp_path / "landing"
    with FeedbackStore.open(tmp_path / "f.db", create=True) as store:
        store.record(interaction(1, score=4.5))
        store.record(interaction(2, score=2.0, feedback="negative"))
        store.record(interaction(3, score=3.0))
        landed, ids = export_feedback(store, landing, min_score=3.0)
        assert ids == [1, 3] and landed.spans == 2
        lines = (landing / landed.landed_name).read_text().splitlines()
        span = json.loads(lines[0])
        assert span["id"] == "feedback-1" and span["metadata"]["quality_score"] == 90.0
        assert span["metadata"]["origin"] == "feedback"
        assert export_feedback(store, landing) == (None, [])
        store.record(interaction(4, score=5.0))
        again, more = export_feedback(store, landing)
        assert more == [4] and again.landed_name != landed.landed_name


def test_an_export_interrupted_before_marking_lands_nothing_new(tmp_path: Path):
    landing = tmp_path / "landing"
    with FeedbackStore.open(tmp_path / "f.db", create=True) as store:
        store.record(interaction(1, score=4.5))
        rows = store.unexported(3.0)
        first, _ = export_feedback(store, landing)
        store._db.execute("UPDATE interactions SET exported_at = NULL, export_file = NULL")
        second, ids = export_feedback(store, landing)  # as if the first crashed before marking
        assert ids == [1] and second.landed_name == first.landed_name
        assert len([p for p in landing.iterdir() if p.is_file()]) == 1
        assert feedback_span(rows[0])["this"] == "question 1"


def test_the_cli_records_reports_and_exports(workspace: Path, capsys):
    from training_assets import cli

    assert cli.main(["feedback", "stats"]) == 2  # no store yet: a clear error
    assert "no feedback store" in capsys.readouterr().err
    assert cli.main(["feedback", "init"]) == 0
    for i, (verdict, score) in enumerate([("positive", "5"), ("negative", "1"), ("positive", "4")]):
        assert cli.main(["feedback", "record", "--query", f"q{i}", "--response", "a",
                         "--model-version", "m1", "--feedback", verdict, "--score", score]) == 0  # fmt: skip
    assert cli.main(["feedback", "record", "--query", "q", "--response", "a",
                     "--model-version", "m1", "--feedback", "positive", "--score", "9"]) == 2  # fmt: skip
    capsys.readouterr()
    assert cli.main(["feedback", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["overall"]["total"] == 3 and stats["overall"]["satisfaction"] == round(1 / 3, 4)
    assert cli.main(["feedback", "export"]) == 0
    [key] = capsys.readouterr().out.split()
    import dagster as dg

    assert key in dg.DagsterInstance.get().get_dynamic_partitions("batches")


def test_prompts_come_from_the_rarest_domains_in_turn():
    from training_assets.feedback.synthetic import pick_prompts, under_represented_domains

    kernel = {
        "recommendations": [
            {"kind": "under_represented_domain", "subject": "law", "count": 3},
            {"kind": "frequent_rejection_reason", "subject": "invalid_json", "count": 9},
            {"kind": "under_represented_domain", "subject": "math", "count": 1},
        ]
    }
    domains = under_represented_domains(kernel)
    assert domains == ["math", "law"]
    rows = [{"id": f"m{i}", "this": f"integral {i}?", "tags": ["math"]} for i in range(5)]
    rows += [
        {"id": f"l{i}", "this": f"contract {i}?", "tags": ["law", "writing"]} for i in range(5)
    ]
    rows += [{"id": "dup", "this": "integral 0?", "tags": ["math"]}]
    rows += [{"id": "w", "this": "poem?", "tags": ["writing"]}]
    picked = pick_prompts(rows, domains, cap=4, seed=1)
    assert [p.domain for p in picked] == ["math", "law", "math", "law"]
    assert len({p.question for p in picked}) == 4
    assert pick_prompts(rows, domains, cap=4, seed=1) == picked
    assert len(pick_prompts(rows, domains, cap=100)) == 10  # every distinct question, once


def test_synthetic_spans_are_marked_and_near_duplicates_found():
    import numpy as np

    from training_assets.feedback.synthetic import (
        SyntheticPrompt,
        near_duplicates,
        synthetic_span,
    )

    span = synthetic_span(
        SyntheticPrompt("s1", "math", "What is 2+2?"), "4", "run/step-10", 80.0,
        datetime(2026, 11, 22, tzinfo=UTC),
    )  # fmt: skip
    assert span["metadata"] | {} == {
        "quality_score": 80.0,
        "origin": "synthetic",
        "source_span": "s1",
        "model_version": "run/step-10",
    }
    assert span["context"] == {"environment": "math"} and span["id"].startswith("synthetic-")
    similarity = np.array([[0.99], [0.5]], dtype=np.float32)
    assert near_duplicates(similarity, 0.95).tolist() == [True, False]
    assert near_duplicates(np.empty((2, 0), np.float32), 0.95).tolist() == [False, False]


def test_low_data_sensor_regenerates_with_a_cooldown_and_retrains_when_enough(
    workspace: Path, monkeypatch
):
    import dagster as dg
    import polars as pl

    from sensors.low_data_sensor import low_data_sensor
    from training_assets.definitions import build_definitions

    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("batches", ["a-000", "b-000"])
    (workspace / "diamonds_plus").mkdir(parents=True)
    for batch, rows in (("a-000", 30), ("b-000", 12)):
        pl.DataFrame({"id": [f"{batch}-{i}" for i in range(rows)]}).write_parquet(
            workspace / "diamonds_plus" / f"{batch}.parquet"
        )
    (workspace / "runs" / "r1").mkdir(parents=True)
    (workspace / "runs" / "r1" / "summary.json").write_text(json.dumps({"batches": ["a-000"]}))

    def tick(cursor=None):  # resources built at each tick, from the environment then
        resources = build_definitions(str(workspace)).resources
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        return low_data_sensor(context)

    monkeypatch.setenv("TRAINING_LOW_DATA_THRESHOLD", "20")
    first = tick()
    [request] = first.run_requests
    assert request.job_name == "regeneration_job" and request.tags["fresh_examples"] == "12"
    again = tick(first.cursor)
    assert isinstance(again, dg.SkipReason) and "cooldown" in again.skip_message
    monkeypatch.setenv("TRAINING_REGENERATION_COOLDOWN", "0")
    assert tick(first.cursor).run_requests[0].job_name == "regeneration_job"

    monkeypatch.setenv("TRAINING_RETRAIN_THRESHOLD", "10")
    retrain = tick(first.cursor)
    assert retrain.run_requests[0].job_name == "training_job"
    assert retrain.run_requests[0].run_key == tick().run_requests[0].run_key  # once per set
