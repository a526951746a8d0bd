"""A crash mid-write leaves the previous artifact whole; a re-run resumes from the cache."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster_polars import PolarsParquetIOManager
from upath import UPath

from resources import AtomicPolarsParquetIOManager
from training_assets.atomic import atomic_path, write_json_atomic
from training_assets.embedding.encoder import BUNDLED_MODEL, Embedder


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path: Path):
    target = tmp_path / "artifact.json"
    write_json_atomic(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"version": 2, "half')
        raise RuntimeError("killed mid-write")
    assert target.read_text().strip().startswith("{") and '"version": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["artifact.json"]


def test_io_manager_never_leaves_a_truncated_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    manager = AtomicPolarsParquetIOManager(base_dir=str(tmp_path))
    target = UPath(tmp_path / "table.parquet")
    context = dg.build_output_context(definition_metadata={})
    manager.write_df_to_path(context, pl.DataFrame({"x": [1, 2, 3]}), target)

    def half_write(self, context, df, path):
        Path(str(path)).write_bytes(b"PAR1 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(PolarsParquetIOManager, "write_df_to_path", half_write)
    with pytest.raises(OSError):
        manager.write_df_to_path(context, pl.DataFrame({"x": [9]}), target)
    assert pl.read_parquet(str(target))["x"].to_list() == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]


def test_embedding_resumes_after_a_crash(tmp_path: Path):
    texts = [f"resumable sentence number {i}" for i in range(6)]
    embedder = Embedder(BUNDLED_MODEL, tmp_path / "vectors.sqlite")
    embedder.chunk_texts = 2

    def crash_after_two_chunks(done: int, total: int, elapsed: float) -> None:
        if done >= 4:
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        embedder.encode(texts, crash_after_two_chunks)
    _, stats = Embedder(BUNDLED_MODEL, tmp_path / "vectors.sqlite").encode(texts)
    assert (stats.cache_hits, stats.encoded) == (4, 2)
