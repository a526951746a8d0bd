"""The feedback store: interactions with a deployed model and what people thought of them.

SQLite in WAL mode (`$TRAINING_WORKSPACE/feedback.db`), so several processes record at
once; each write is one short `BEGIN IMMEDIATE` transaction and waits (busy timeout)
instead of failing while another holds the lock. The schema is versioned with
`PRAGMA user_version` and migrated forward in order on open. A missing store is an
error unless the caller asks to create it, and a file that is not this store (corrupt,
another database, a newer schema) is refused with the reason: never reset.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FEEDBACK_VALUES = ("positive", "negative", "neutral")
_BUSY_TIMEOUT_MS = 60_000

# Each migration takes the schema from version i to i + 1; never edit a shipped one.
MIGRATIONS = (
    """
    CREATE TABLE interactions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL,
        session TEXT,
        model_version TEXT NOT NULL,
        query TEXT NOT NULL,
        response TEXT NOT NULL,
        feedback TEXT NOT NULL CHECK (feedback IN ('positive', 'negative', 'neutral')),
        score REAL CHECK (score IS NULL OR (score >= 0 AND score <= 5)),
        intent TEXT,
        confidence REAL CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1))
    );
    CREATE INDEX interactions_created ON interactions (created_at);
    CREATE INDEX interactions_model ON interactions (model_version);
    """,
    """
    ALTER TABLE interactions ADD COLUMN exported_at TEXT;
    ALTER TABLE interactions ADD COLUMN export_file TEXT;
    CREATE INDEX interactions_unexported ON interactions (exported_at) WHERE exported_at IS NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class FeedbackStoreError(RuntimeError):
    pass


@dataclass(frozen=True)
class Interaction:
    query: str
    response: str
    model_version: str
    feedback: str
    score: float | None = None
    intent: str | None = None
    confidence: float | None = None
    session: str | None = None
    created_at: str | None = None  # ISO 8601 UTC; now when None

    def validate(self) -> None:
        problems = []
        if not self.query.strip() or not self.response.strip():
            problems.append("query and response must not be blank")
        if not self.model_version.strip():
            problems.append("model_version must not be blank")
        if self.feedback not in FEEDBACK_VALUES:
            problems.append(f"feedback must be one of {FEEDBACK_VALUES}, got {self.feedback!r}")
        if self.score is not None and not 0 <= self.score <= 5:
            problems.append(f"score must be within 0–5, got {self.score}")
        if self.confidence is not None and not 0 <= self.confidence <= 1:
            problems.append(f"confidence must be within 0–1, got {self.confidence}")
        if problems:
            raise ValueError("bad interaction: " + "; ".join(problems))


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    return db


class FeedbackStore:
    """Open with `FeedbackStore.open(path, create=...)`."""

    def __init__(self, path: Path, db: sqlite3.Connection) -> None:
        self.path = path
        self._db = db

    @classmethod
    def open(cls, path: Path, create: bool = False) -> FeedbackStore:
        path = Path(path)
        if not path.exists():
            if not create:
                raise FeedbackStoreError(
                    f"no feedback store at {path}: create it with `training-assets feedback init` "
                    "(or record with --create)"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = _connect(path)
            db.execute("PRAGMA journal_mode=WAL")
            store = cls(path, db)
            store._migrate()
        except sqlite3.DatabaseError as error:
            raise FeedbackStoreError(
                f"{path} is not a readable feedback store ({error}); it was left as it is. "
                "Move it aside to start a new one, or restore it from a backup."
            ) from error
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _tables(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")]

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._version()
            if version == 0 and self._tables():
                raise FeedbackStoreError(
                    f"{self.path} holds tables {self._tables()} but no feedback schema version: "
                    "not a feedback store, left as it is"
                )
            if version > SCHEMA_VERSION:
                raise FeedbackStoreError(
                    f"{self.path} has schema version {version}, newer than this code "
                    f"({SCHEMA_VERSION}): upgrade training-assets"
                )
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={number + 1}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return self._version()

    def record(self, interaction: Interaction) -> int:
        return self.record_all([interaction])[0]

    def record_all(self, interactions: list[Interaction]) -> list[int]:
        """Record interactions in one transaction (all or none); their ids, in order."""
        for interaction in interactions:
            interaction.validate()
        ids = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for interaction in interactions:
                cursor = self._db.execute(
                    "INSERT INTO interactions (created_at, session, model_version, query, "
                    "response, feedback, score, intent, confidence) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        interaction.created_at or datetime.now(UTC).isoformat(),
                        interaction.session,
                        interaction.model_version,
                        interaction.query,
                        interaction.response,
                        interaction.feedback,
                        interaction.score,
                        interaction.intent,
                        interaction.confidence,
                    ),
                )
                ids.append(int(cursor.lastrowid))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return ids

    def rows(self, where: str = "1", params: tuple = ()) -> Iterator[sqlite3.Row]:
        yield from self._db.execute(f"SELECT * FROM interactions WHERE {where} ORDER BY id", params)

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM interactions").fetchone()[0]

    def unexported(self, min_score: float) -> list[sqlite3.Row]:
        return list(self.rows("exported_at IS NULL AND score >= ?", (min_score,)))

    def mark_exported(self, ids: list[int], export_file: str) -> None:
        now = datetime.now(UTC).isoformat()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "UPDATE interactions SET exported_at = ?, export_file = ? "
                "WHERE id = ? AND exported_at IS NULL",
                [(now, export_file, i) for i in ids],
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
