"""Fresh training examples: diamonds+ rows of batches no training run has used yet; new
negative judgements: those no preference run has learned from yet."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from training_assets.training.run_folder import RunFolder


def trained_batches(runs_dir: Path) -> set[str]:
    """Batches some finished training run took its dataset from (its summary.json)."""
    used: set[str] = set()
    for folder in runs_dir.glob("*/") if runs_dir.is_dir() else []:
        summary = RunFolder(folder).read_summary()
        used.update((summary or {}).get("batches") or [])
    return used


def fresh_examples(root: Path, batches: Iterable[str], tables=None) -> tuple[int, list[str]]:
    """(diamonds+ rows in batches not yet trained on, those batches); the tables under
    `tables` (a local folder or a UPath), default the workspace `root`."""
    used = trained_batches(root / "runs")
    tables = root if tables is None else tables
    fresh, count = [], 0
    for batch in sorted(set(batches) - used):
        path = tables / "diamonds_plus" / f"{batch}.parquet"
        if path.exists():
            count += pl.scan_parquet(str(path)).select(pl.len()).collect().item()
            fresh.append(batch)
    return count, fresh


def new_negative_feedback(store, runs_dir: Path) -> tuple[int, int]:
    """(negative interactions newer than the newest one a finished preference run learned
    from, the newest interaction id in the store)."""
    learned = 0
    for folder in runs_dir.glob("*/") if runs_dir.is_dir() else []:
        summary = RunFolder(folder).read_summary() or {}
        if summary.get("kind") == "preference":
            learned = max(learned, int(summary.get("last_feedback_id") or 0))
    negative = sum(1 for _ in store.rows("id > ? AND feedback = 'negative'", (learned,)))
    newest = max((row["id"] for row in store.rows("id > ?", (learned,))), default=learned)
    return negative, newest
