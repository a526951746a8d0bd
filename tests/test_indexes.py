"""HNSW index: recall, incremental growth, replacement, crash-safe saves; BM25 search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from training_assets.indexing import hnsw
from training_assets.indexing.hnsw import SpanIndex, load_span_index, recall_at_k, save_span_index
from training_assets.indexing.inverted import batch_postings, keyword_search, write_postings


def unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_recall_and_incremental_growth(tmp_path: Path):
    index = SpanIndex(32)
    index.add_batch("b1", "f1", [f"a{i}" for i in range(1500)], unit_vectors(1500, seed=1))
    save_span_index(index, tmp_path)
    index = load_span_index(tmp_path, 32)
    index.add_batch("b2", "f2", [f"b{i}" for i in range(1500)], unit_vectors(1500, seed=2))
    save_span_index(index, tmp_path)
    loaded = load_span_index(tmp_path, 32)
    assert (
        loaded.live == 3000
        and loaded.batches == {"b1": "f1", "b2": "f2"}
        and loaded.generation == 2
    )
    assert recall_at_k(loaded, sample=200, k=10) >= 0.95
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "index-2.bin",
        "labels-2.parquet",
        "manifest.json",
    ]


def test_replaced_batch_is_never_returned(tmp_path: Path):
    old = unit_vectors(100, seed=3)
    index = SpanIndex(32)
    index.add_batch("b1", "v1", [f"s{i}" for i in range(100)], old)
    assert index.remove_batch("b1") == 100
    index.add_batch("b1", "v2", [f"s{i}" for i in range(50)], unit_vectors(50, seed=4))
    labels, _ = index.search(old[:5], k=10)
    live = set(index.labels.filter(~pl.col("deleted"))["label"].to_list())
    assert set(labels.ravel().tolist()) <= live and index.live == 50 and index.deleted == 100


def test_crash_during_save_keeps_previous_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    index = SpanIndex(32)
    index.add_batch("b1", "f1", ["x", "y"], unit_vectors(2))
    save_span_index(index, tmp_path)
    index.add_batch("b2", "f2", ["z"], unit_vectors(1, seed=5))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(hnsw, "write_json_atomic", crash)
    with pytest.raises(OSError):
        save_span_index(index, tmp_path)
    survivor = load_span_index(tmp_path, 32)
    assert survivor.live == 2 and survivor.batches == {"b1": "f1"}


def test_dimension_mismatch_is_explained(tmp_path: Path):
    index = SpanIndex(32)
    index.add_batch("b1", "f1", ["x"], unit_vectors(1))
    save_span_index(index, tmp_path)
    with pytest.raises(ValueError, match="different embedding model"):
        load_span_index(tmp_path, 64)


def test_bm25_ranks_the_matching_span_first(tmp_path: Path):
    spans = pl.DataFrame(
        {
            "id": ["s1", "s2", "s3"],
            "this": [
                "How to reverse a list in Python",
                "Best pizza in Naples",
                "Sort a dictionary by value",
            ],
            "if_ok": [
                "Use reversed() or slicing [::-1]",
                "Try Da Michele",
                "Use sorted(d.items(), key=...)",
            ],
            "tags": [["programming"], [], ["programming"]],
        }
    )
    write_postings(tmp_path, "b1", batch_postings(spans))
    hits = keyword_search(tmp_path, "reverse python list", k=2)
    assert hits[0][:2] == ("b1", "s1")
    assert keyword_search(tmp_path, "tag:programming", k=5)[0][1] in {"s1", "s3"}
    assert keyword_search(tmp_path, "the of and", k=5) == []


def test_polars_postings_match_the_query_tokenizer():
    from collections import Counter

    from training_assets.indexing.inverted import tokenize

    texts = [
        (
            "Install C++ and C# tools; Python 3.11 works!",
            "Run `pip install numpy==2.0` — then import numpy.",
        ),
        ("Qu'est-ce que l'été ÉNORME?", None),
        ("e.g. foo.bar-baz_qux and the of to", "URL https://example.com/a-b?c=d."),
    ]
    spans = pl.DataFrame(
        {
            "id": [f"s{i}" for i in range(len(texts))],
            "this": [q for q, _ in texts],
            "if_ok": [a for _, a in texts],
            "tags": [["code"], [], ["web", "devops"]],
        }
    )
    postings = batch_postings(spans)
    for span_id, question, answer, tags in spans.rows():
        terms = tokenize(question) + tokenize(answer or "") + [f"tag:{t}" for t in tags]
        rows = postings.filter(pl.col("span_id") == span_id)
        assert dict(zip(rows["term"], rows["tf"], strict=True)) == dict(Counter(terms))
        assert set(rows["doc_len"]) == {len(terms)}
