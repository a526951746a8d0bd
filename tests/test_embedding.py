"""The real bundled model: normalised vectors, and no text is ever embedded twice."""

from __future__ import annotations

import numpy as np
import pytest

from training_assets.embedding.encoder import BUNDLED_MODEL, Embedder, combine


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    return Embedder(BUNDLED_MODEL, tmp_path_factory.mktemp("cache") / "vectors.sqlite")


def test_vectors_are_normalised_and_meaningful(embedder: Embedder):
    vectors, _ = embedder.encode(
        ["How do I sort a list in Python?", "Sorting Python lists", "Recipe for lemon cake"]
    )
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_cache_means_no_text_is_embedded_twice(embedder: Embedder):
    texts = ["alpha text one", "beta text two", "alpha text one"]
    first, stats = embedder.encode(texts)
    assert (stats.texts, stats.unique, stats.encoded) == (3, 2, 2)
    again, stats = embedder.encode(["beta text two", "alpha text one", "gamma new"])
    assert (stats.cache_hits, stats.encoded) == (2, 1)
    assert np.array_equal(again[0], first[1]) and np.array_equal(first[0], first[2])
    reopened = Embedder(BUNDLED_MODEL, embedder.cache.path)
    _, stats = reopened.encode(texts)
    assert stats.encoded == 0
    assert reopened._model is None, "a fully cached call must not load the model"


def test_windows_share_the_cache_and_accept_a_polars_series(tmp_path):
    import polars as pl

    embedder = Embedder(BUNDLED_MODEL, tmp_path / "vectors.sqlite")
    embedder.chunk_texts = 2  # a repeat in a later window must be a cache hit
    texts = pl.Series("t", ["one cat", "two dogs", "three birds", "one cat", "two dogs"])
    vectors, stats = embedder.encode(texts)
    assert (stats.texts, stats.unique, stats.encoded, stats.cache_hits) == (5, 3, 3, 2)
    assert np.array_equal(vectors[0], vectors[3]) and np.array_equal(vectors[1], vectors[4])
    whole, _ = Embedder(BUNDLED_MODEL, tmp_path / "other.sqlite").encode(texts.to_list())
    assert np.allclose(vectors, whole, atol=1e-5)


def test_combined_vector_is_normalised_sum(embedder: Embedder):
    q, r = np.eye(2, dtype=np.float32)[:1], np.eye(2, dtype=np.float32)[1:]
    assert np.allclose(combine(q, r), [[2**-0.5, 2**-0.5]])
