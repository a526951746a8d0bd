"""Secrets found in earlier batches, kept as keyed digests, so that a later batch quoting
one bare (no name, no vendor shape: nothing a rule could see) is redacted too.

Only digests are stored: BLAKE2b keyed with a random key kept beside the store, of each
found value. A text is checked by digesting its token-like runs, which is how a found
value reappears (redaction widens every finding to its whole token). A value found
later than a batch that repeated it is not applied to that earlier batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

# the runs a secret can be: at least 8 token characters
_CANDIDATE = re.compile(r"[A-Za-z0-9_\-+/=.~!#$%^&*@]{8,}")
_TRIM = ".,;:!?)]}'\""


class KnownSecrets:
    """A digest set in `<folder>/known_secrets.sqlite`, its key in `<folder>/known_secrets.key`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / "known_secrets.key"
        if not key_path.exists():
            staging = key_path.with_suffix(f".{os.getpid()}.tmp")
            staging.write_bytes(os.urandom(32))
            with contextlib.suppress(FileExistsError):
                os.link(staging, key_path)  # the first writer wins; every process reads it
            staging.unlink()
        self._key = key_path.read_bytes()
        self._path = folder / "known_secrets.sqlite"
        with self._connect() as db:
            db.execute(
                "create table if not exists digests "
                "(digest blob primary key, kind text not null, length integer not null)"
            )
            rows = db.execute("select digest, kind, length from digests").fetchall()
        self._kinds = {digest: kind for digest, kind, _ in rows}
        # only runs of a length some known value has are digested: most text is skipped
        self._lengths = {length for _, _, length in rows}

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=60)
        db.execute("pragma journal_mode=wal")
        return db

    def _digest(self, value: str) -> bytes:
        data = value.encode("utf-8", "surrogatepass")
        return hashlib.blake2b(data, key=self._key, digest_size=20).digest()

    def __len__(self) -> int:
        return len(self._kinds)

    def find(self, texts: Iterable[str | None]) -> dict[str, str]:
        """Known values that occur in `texts`, with their kinds."""
        if not self._kinds:
            return {}
        found, lengths = {}, self._lengths
        for text in texts:
            if not text:
                continue
            for run in _CANDIDATE.findall(text):
                core = run.strip(_TRIM)
                for candidate in (run,) if core == run else (run, core):
                    if len(candidate) in lengths:
                        kind = self._kinds.get(self._digest(candidate))
                        if kind:
                            found[candidate] = kind
        return found

    def add(self, values: Mapping[str, str]) -> None:
        rows = [(self._digest(v), k, len(v)) for v, k in values.items() if len(v) >= 8]
        if not rows:
            return
        with self._connect() as db:
            db.executemany("insert or ignore into digests values (?, ?, ?)", rows)
        self._kinds.update((digest, kind) for digest, kind, _ in rows)
        self._lengths.update(length for _, _, length in rows)
