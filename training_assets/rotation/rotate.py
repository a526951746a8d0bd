"""Rotation: archive the oldest batches' ledgers, verify the archives, then purge.

Per batch, in this order, each step safe to kill:
1. the ledger (spans after redaction, curation, rejections, quarantine, reports) is
   written to `archives/ledger-<batch>-<date>.jsonl.gz` (temp file, then rename);
2. the archive is read back and its Merkle root checked against the kernel state;
3. the kernel state records the verified archive (atomic rewrite): the commit point;
4. only then are the batch's tables, its index entries, the cache entries no other batch
   uses and, once all its batches are archived, its landing file removed.

Killed before 3, the batch is intact (a stray archive is verified again or replaced);
killed after 3, the archive is verified and the next rotation finishes the purge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from training_assets.atomic import write_json_atomic
from training_assets.documents import read_document
from training_assets.embedding.cache import EmbeddingCache, cache_key
from training_assets.indexing.hnsw import HnswParams
from training_assets.indexing.sync import NothingToIndex, sync_inverted_index, sync_span_index
from training_assets.ingestion.landing import iter_manifests, mark_rotated
from training_assets.kernel.files import (
    KERNEL_DIR,
    archive_record,
    kernel_path,
    load_ledger,
    read_kernel,
)
from training_assets.kernel.ledger import (
    LedgerError,
    batch_merkle_root,
    verify_archive,
    write_archive,
)
from training_assets.rotation.usage import Budget, workspace_usage
from training_assets.training.run_folder import RunFolder

ARCHIVE_DIR = "archives"
# Folders that are never a batch's table, whatever they hold.
NOT_TABLES = {"landing", "embedding_cache", "span_index", "inverted_index", "runs", "deploy",
              "models", KERNEL_DIR, ARCHIVE_DIR}  # fmt: skip

Log = Callable[[str], None]


class RotationError(RuntimeError):
    pass


def batch_tables(root: Path, batch: str) -> list[Path]:
    """The batch's files in every table asset folder (`<asset>/<batch>.parquet|.json`)."""
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in NOT_TABLES):
        found += [p for p in (folder / f"{batch}.parquet", folder / f"{batch}.json") if p.exists()]
    return found


def protected_batches(root: Path) -> set[str]:
    """Batches the deployed model was trained on: its lineage record keeps them."""
    deployed = read_document(root, "deployed_model")
    if deployed is None:
        return set()
    checkpoint = Path(deployed.get("checkpoint_path", ""))
    run = RunFolder.of_checkpoint(checkpoint)
    summary = run.read_summary() if run else None
    return set((summary or {}).get("batches") or [])


def batches_oldest_first(root: Path) -> list[str]:
    manifests = sorted(iter_manifests(root / "landing"), key=lambda m: (m.landed_at, m.sha256))
    return [key for manifest in manifests for key in manifest.keys]


def rotation_candidates(root: Path) -> list[str]:
    """Fully processed (kernel state written), not archived, not protected: oldest first."""
    protected = protected_batches(root)
    candidates = []
    for batch in batches_oldest_first(root):
        kernel = read_kernel(root, batch)
        if kernel is None or "archive" in kernel or batch in protected:
            continue
        if (root / "diamonds_plus" / f"{batch}.parquet").exists():
            candidates.append(batch)
    return candidates


def unfinished_purges(root: Path) -> list[str]:
    """Archived batches whose files are still (partly) there: a purge was interrupted."""
    return [
        batch
        for batch in batches_oldest_first(root)
        if archive_record(root, batch) and batch_tables(root, batch)
    ]


def archive_batch(root: Path, batch: str, now: datetime) -> dict:
    """Steps 1–3: write, verify and record the archive. Returns the archive record."""
    kernel = read_kernel(root, batch)
    if kernel is None:
        raise RotationError(f"batch {batch} has no kernel state: materialize kernel_state first")
    if "archive" in kernel:
        return kernel["archive"]
    ledger = load_ledger(root, batch)
    if batch_merkle_root(ledger.spans) != kernel["merkle_root"]:
        raise RotationError(
            f"batch {batch}: its spans changed since its kernel state was computed: "
            "re-materialize kernel_state before rotating it"
        )
    folder = root / ARCHIVE_DIR
    existing = sorted(folder.glob(f"ledger-{batch}-*.jsonl.gz"))
    target = existing[-1] if existing else folder / f"ledger-{batch}-{now:%Y%m%d}.jsonl.gz"
    try:  # an archive left by a rotation killed before step 3
        verify_archive(target, kernel["merkle_root"])
    except (LedgerError, FileNotFoundError):
        write_archive(ledger, target, kernel["merkle_root"], now.isoformat())
        verify_archive(target, kernel["merkle_root"])
    record = {
        "path": str(target.relative_to(root)),
        "bytes": target.stat().st_size,
        "ledger_lines": sum(ledger.counts.values()),
        "verified_at": now.isoformat(),
        "merkle_root": kernel["merkle_root"],
    }
    write_json_atomic(kernel_path(root, batch), {**kernel, "archive": record})
    return record


@dataclass
class PurgeResult:
    files: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    cache_entries: int = 0
    index_entries_removed: int = 0
    landing_files: list[str] = field(default_factory=list)


def _texts_keys(root: Path, batches: Iterable[str], fingerprints: list[str]) -> set[bytes]:
    keys: set[bytes] = set()
    for batch in batches:
        path = root / "diamond_spans" / f"{batch}.parquet"
        if not path.exists():
            continue
        texts = pl.read_parquet(path, columns=["this", "if_ok"])
        for text in (*texts["this"].to_list(), *texts["if_ok"].to_list()):
            keys.update(cache_key(fp, text) for fp in fingerprints)
    return keys


def _purge_cache(root: Path, batch: str) -> int:
    """Drop the cached vectors of the batch's texts that no live batch still has."""
    path = root / "embedding_cache" / "vectors.sqlite"
    if not path.exists():
        return 0
    cache = EmbeddingCache(path)
    try:
        fingerprints = cache.fingerprints()
        others = [b for b in batches_oldest_first(root) if b != batch]
        doomed = _texts_keys(root, [batch], fingerprints) - _texts_keys(root, others, fingerprints)
        deleted = cache.delete_many(sorted(doomed))
        if deleted:
            cache.compact()
        return deleted
    finally:
        cache.close()


def purge_batch(root: Path, batch: str, log: Log) -> PurgeResult:
    """Step 4: remove what the archive now holds. Safe to repeat after a kill."""
    archived = archive_record(root, batch)
    if not archived:
        raise RotationError(f"batch {batch} has no verified archive: refusing to purge it")
    mark_rotated(root / "landing", batch, archived["path"])
    result = PurgeResult()
    # The cache entries first: finding which texts are this batch's needs its table.
    result.cache_entries = _purge_cache(root, batch)
    for path in batch_tables(root, batch):
        result.bytes_freed += path.stat().st_size
        result.files.append(str(path.relative_to(root)))
        path.unlink()
    try:
        synced = sync_span_index(
            root / "span_index", root / "span_embeddings", HnswParams(), log=log
        )
        result.index_entries_removed = synced.removed
    except NothingToIndex:
        pass
    sync_inverted_index(root / "inverted_index", root / "enriched_spans", log)
    for manifest in iter_manifests(root / "landing"):
        landed = root / "landing" / manifest.landed_name
        if (
            batch in manifest.keys
            and landed.exists()
            and all(archive_record(root, key) for key in manifest.keys)
        ):
            result.bytes_freed += landed.stat().st_size
            result.landing_files.append(str(landed.relative_to(root)))
            landed.unlink()
    return result


@dataclass(frozen=True)
class RotatedBatch:
    batch: str
    archive: dict
    purge: PurgeResult
    seconds: float


def rotate(
    root: Path,
    budget: Budget,
    log: Log,
    *,
    force: bool = False,
    limit: int | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[RotatedBatch]:
    """Finish interrupted purges, then rotate the oldest batches until usage is at most
    `budget.target` of the budget (or every candidate when `force`; at most `limit`)."""
    import time

    rotated = []
    for batch in unfinished_purges(root):
        started = time.perf_counter()
        log(f"finishing the interrupted purge of {batch}")
        result = purge_batch(root, batch, log)
        rotated.append(
            RotatedBatch(batch, archive_record(root, batch), result, time.perf_counter() - started)
        )
    for batch in rotation_candidates(root):
        if limit is not None and len(rotated) >= limit:
            break
        usage = workspace_usage(root)
        if not force and usage.total <= budget.target * budget.bytes:
            break
        started = time.perf_counter()
        archive = archive_batch(root, batch, now())
        log(f"{batch}: archive {archive['path']} verified ({archive['bytes']} bytes)")
        result = purge_batch(root, batch, log)
        log(f"{batch}: purged {len(result.files)} files, {result.bytes_freed} bytes")
        rotated.append(RotatedBatch(batch, archive, result, time.perf_counter() - started))
    return rotated
