"""The span index: hnswlib HNSW (cosine) over combined vectors, grown batch by batch.

On disk, a generation is `index-<gen>.bin` + `labels-<gen>.parquet` (label -> batch,
span id), and `manifest.json` names the current generation and the fingerprint of each
batch table it holds. A new generation is written in full before the manifest is
atomically replaced, so a reader always sees a matching index and label map, and a crash
leaves the previous generation in force.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import hnswlib
import numpy as np
import polars as pl

from training_assets.atomic import atomic_path, write_json_atomic
from training_assets.locks import exclusive_lock

LABELS_SCHEMA = pl.Schema(
    {"label": pl.UInt64, "batch": pl.String, "span_id": pl.String, "deleted": pl.Boolean}
)


@dataclass(frozen=True)
class HnswParams:
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 100


@dataclass
class SpanIndex:
    dimension: int
    params: HnswParams = field(default_factory=HnswParams)
    index: hnswlib.Index | None = None
    labels: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LABELS_SCHEMA))
    batches: dict[str, str] = field(default_factory=dict)
    generation: int = 0

    @property
    def live(self) -> int:
        return int((~self.labels["deleted"]).sum()) if self.labels.height else 0

    @property
    def deleted(self) -> int:
        return self.labels.height - self.live

    def _ensure_index(self, extra: int) -> hnswlib.Index:
        needed = self.labels.height + extra
        if self.index is None:
            self.index = hnswlib.Index(space="cosine", dim=self.dimension)
            self.index.init_index(
                max_elements=max(needed, 1024),
                ef_construction=self.params.ef_construction,
                M=self.params.m,
            )
        elif needed > self.index.get_max_elements():
            self.index.resize_index(max(needed, int(self.index.get_max_elements() * 1.5)))
        self.index.set_ef(self.params.ef_search)
        return self.index

    def remove_batch(self, batch: str) -> int:
        mask = (self.labels["batch"] == batch) & ~self.labels["deleted"]
        doomed = self.labels.filter(mask)["label"].to_list()
        for label in doomed:
            self.index.mark_deleted(label)
        self.labels = self.labels.with_columns(
            pl.when(mask).then(True).otherwise(pl.col("deleted")).alias("deleted")
        )
        self.batches.pop(batch, None)
        return len(doomed)

    def add_batch(
        self, batch: str, fingerprint: str, span_ids: list[str], vectors: np.ndarray
    ) -> int:
        index = self._ensure_index(len(span_ids))
        start = self.labels.height
        labels = np.arange(start, start + len(span_ids), dtype=np.uint64)
        if len(span_ids):
            index.add_items(vectors, labels, num_threads=os.cpu_count() or 1)
        added = pl.DataFrame(
            {
                "label": labels,
                "batch": [batch] * len(span_ids),
                "span_id": span_ids,
                "deleted": [False] * len(span_ids),
            },
            schema=LABELS_SCHEMA,
        )
        self.labels = pl.concat([self.labels, added])
        self.batches[batch] = fingerprint
        return len(span_ids)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels, cosine similarities), best first; fewer than k when the index is small."""
        k = min(k, self.live)
        if k == 0:
            return np.empty((len(vectors), 0), np.uint64), np.empty((len(vectors), 0), np.float32)
        self.index.set_ef(max(self.params.ef_search, k))
        labels, distances = self.index.knn_query(vectors, k=k)
        return labels, 1.0 - distances

    def live_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        live = self.labels.filter(~pl.col("deleted"))["label"].to_numpy()
        return live, np.asarray(self.index.get_items(live), dtype=np.float32) if len(
            live
        ) else np.empty((0, self.dimension), np.float32)


def load_span_index(
    directory: Path, dimension: int, params: HnswParams = HnswParams()
) -> SpanIndex:
    manifest_file = directory / "manifest.json"
    if not manifest_file.exists():
        return SpanIndex(dimension, params)
    manifest = json.loads(manifest_file.read_text())
    if manifest["dimension"] != dimension:
        raise ValueError(
            f"span index at {directory} has dimension {manifest['dimension']}, the embedder gives {dimension}: "
            "a different embedding model needs a rebuilt index (delete the folder and re-materialize span_index)"
        )
    gen = manifest["generation"]
    labels = pl.read_parquet(directory / f"labels-{gen}.parquet")
    index = hnswlib.Index(space="cosine", dim=dimension)
    index.load_index(str(directory / f"index-{gen}.bin"), max_elements=max(labels.height, 1024))
    index.set_ef(params.ef_search)
    return SpanIndex(dimension, params, index, labels, dict(manifest["batches"]), gen)


def open_span_index(directory: Path, dimension: int | None = None) -> SpanIndex | None:
    """The span index saved in `directory` as of its manifest, read under the index lock
    (so a sync in progress is never half seen); None when no index was saved yet.
    `dimension`, when given, is checked against the saved one."""
    with exclusive_lock(directory / ".lock"):
        manifest_file = directory / "manifest.json"
        if not manifest_file.exists():
            return None
        saved = json.loads(manifest_file.read_text())["dimension"]
        return load_span_index(directory, dimension or saved)


def _check_saved(path: Path, dimension: int) -> None:
    """hnswlib writes through an unchecked C++ stream: on a full disk it leaves a short
    file and reports nothing. Read it back (hnswlib checks the size against its header)
    so a short file fails the save instead of being renamed into place."""
    try:
        hnswlib.Index(space="cosine", dim=dimension).load_index(str(path))
    except RuntimeError as error:
        free = shutil.disk_usage(path.parent).free
        code = errno.ENOSPC if free < (1 << 20) else errno.EIO
        raise OSError(
            code,
            f"{os.strerror(code)}: the HNSW index written to {path.name} does not read back "
            f"({error}); {free / (1 << 20):.1f} MiB free on its disk",
        ) from None


def save_span_index(span_index: SpanIndex, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    span_index._ensure_index(0)  # an index every batch was purged from is saved empty
    gen = span_index.generation + 1
    with atomic_path(directory / f"index-{gen}.bin") as tmp:
        span_index.index.save_index(str(tmp))
        _check_saved(tmp, span_index.dimension)
    with atomic_path(directory / f"labels-{gen}.parquet") as tmp:
        span_index.labels.write_parquet(tmp)
    write_json_atomic(
        directory / "manifest.json",
        {
            "generation": gen,
            "dimension": span_index.dimension,
            "batches": span_index.batches,
            "live": span_index.live,
            "deleted": span_index.deleted,
        },
    )
    span_index.generation = gen
    for stale in directory.glob("*-*.*"):
        stem = stale.name.split(".")[0]
        if stem.rsplit("-", 1)[-1].isdigit() and int(stem.rsplit("-", 1)[-1]) < gen:
            stale.unlink(missing_ok=True)


def recall_at_k(span_index: SpanIndex, sample: int = 200, k: int = 10, seed: int = 0) -> float:
    """Recall@k of the HNSW answers against exact cosine search, on a sample of indexed spans.

    Tie-aware: an answer counts when its similarity reaches the exact k-th best, so
    duplicate texts (identical vectors, ranked in any order) do not read as misses.
    """
    labels, vectors = span_index.live_vectors()
    if len(labels) == 0:
        return 1.0
    k = min(k, len(labels))
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(labels), size=min(sample, len(labels)), replace=False)
    queries = vectors[picks]
    kth_best = -np.partition(-(queries @ vectors.T), k - 1, axis=1)[:, k - 1]
    _, similarity = span_index.search(queries, k)
    hits = (similarity >= kth_best[:, None] - 1e-5).sum()
    return float(hits) / (len(picks) * k)
