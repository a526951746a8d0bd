"""A content-addressed embedding cache: (model fingerprint, text) -> float32 vector.

SQLite in WAL mode, so several batch runs can read and write it at once. A key is the
first 16 bytes of SHA-256 over the model fingerprint and the text; the same text is
never embedded twice for the same model, across batches and re-runs. Entries are
written as each chunk is encoded, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    key BLOB PRIMARY KEY,
    vector BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS models (
    fingerprint TEXT PRIMARY KEY,
    dimension INTEGER NOT NULL
);
"""
_LOOKUP_CHUNK = 900
_WAL_LIMIT_BYTES = 8 * 1024 * 1024  # the WAL file is cut back to this after a checkpoint


def cache_key(model_fingerprint: str, text: str) -> bytes:
    return hashlib.sha256(f"{model_fingerprint}\0{text}".encode("utf-8", "surrogatepass")).digest()[
        :16
    ]


class EmbeddingCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=120, isolation_level=None)
        # Set before the first table exists (ignored after): deleted entries' pages can then
        # be given back in place, without VACUUM's full temporary copy of the file.
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get_many(self, keys: Sequence[bytes]) -> Iterator[tuple[bytes, np.ndarray]]:
        """Yield (key, vector) for the keys that are cached, in no particular order."""
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk
            ):
                yield key, np.frombuffer(blob, dtype=np.float32)

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        rows = [
            (key, np.ascontiguousarray(vector, dtype=np.float32).tobytes()) for key, vector in items
        ]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO vectors (key, vector) VALUES (?, ?)", rows)

    def remember_dimension(self, fingerprint: str, dimension: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO models (fingerprint, dimension) VALUES (?, ?)",
            (fingerprint, dimension),
        )

    def dimension(self, fingerprint: str) -> int | None:
        row = self._db.execute(
            "SELECT dimension FROM models WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return row[0] if row else None

    def fingerprints(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT fingerprint FROM models")]

    def delete_many(self, keys: Sequence[bytes]) -> int:
        deleted = 0
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                deleted += self._db.execute(
                    f"DELETE FROM vectors WHERE key IN ({marks})", chunk
                ).rowcount
        return deleted

    def compact(self) -> None:
        """Give the pages of deleted entries back to the file system.

        Incremental when the cache was created with auto_vacuum (every cache this code
        creates); a cache from before that needs one full VACUUM, which briefly takes as
        much space again as the file."""
        if self._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            self._db.executescript("PRAGMA incremental_vacuum;")  # steps it to the end
        else:
            self._db.execute("VACUUM")
        # in WAL mode the smaller file reaches disk at the checkpoint
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
