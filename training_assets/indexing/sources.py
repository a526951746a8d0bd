"""Which batch tables an index was built from, and which ones changed since."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BatchSource:
    batch: str
    path: Path
    fingerprint: str


def batch_sources(table_dir: Path) -> dict[str, BatchSource]:
    """Every materialized partition of a table asset, with a cheap change fingerprint.

    The IO manager renames a finished file into place, so size and mtime change whenever
    a partition is rewritten.
    """
    sources = {}
    for path in sorted(table_dir.glob("*.parquet")):
        stat = path.stat()  # on object storage: the object's size and last-modified time
        mtime = getattr(stat, "st_mtime_ns", None) or int(stat.st_mtime * 1e9)
        sources[path.stem] = BatchSource(path.stem, path, f"{stat.st_size}:{mtime}")
    return sources


@dataclass(frozen=True)
class SyncPlan:
    add: list[BatchSource]
    remove: list[str]


def plan_sync(current: dict[str, BatchSource], indexed: dict[str, str]) -> SyncPlan:
    """Batches to (re)add, and batches whose old entries to drop (changed or gone)."""
    add = [src for name, src in current.items() if indexed.get(name) != src.fingerprint]
    remove = [
        name
        for name, fingerprint in indexed.items()
        if name not in current or current[name].fingerprint != fingerprint
    ]
    return SyncPlan(add, remove)
