"""Where kernel states live (`$TRAINING_WORKSPACE/kernel/`, never purged), and a batch's
ledger read from its live tables."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from training_assets.kernel.ledger import (
    CURATED_FIELDS,
    QUARANTINE_FIELDS,
    REJECTED_FIELDS,
    SPAN_FIELDS,
    Ledger,
    records,
)

KERNEL_DIR = "kernel"
GLOBAL_KERNEL = "global.json"


class MissingLedger(FileNotFoundError):
    pass


def kernel_path(root: Path, batch: str) -> Path:
    return root / KERNEL_DIR / f"{batch}.json"


def read_kernel(root: Path, batch: str) -> dict | None:
    path = kernel_path(root, batch)
    return json.loads(path.read_text()) if path.exists() else None


def archive_record(root: Path, batch: str) -> dict | None:
    """Where the batch's verified archive is, once it has one."""
    kernel = read_kernel(root, batch)
    return kernel.get("archive") if kernel else None


def load_ledger(root: Path, batch: str, tables=None) -> Ledger:
    """The batch's ledger from its tables (under `tables`, a local folder or a UPath on
    object storage; default: the workspace `root`) and its diamonds+ report."""
    tables = root if tables is None else tables

    def table(asset: str, columns: Iterable[str]) -> pl.DataFrame:
        path = tables / asset / f"{batch}.parquet"
        if not path.exists():
            return pl.DataFrame()
        present = [c for c in columns if c in pl.read_parquet_schema(str(path))]
        return pl.read_parquet(str(path), columns=present)

    if not (tables / "diamond_spans" / f"{batch}.parquet").exists():
        raise MissingLedger(f"batch {batch}: no diamond_spans table in {tables}")
    spans = table("diamond_spans", SPAN_FIELDS)
    reports = {}
    report_file = root / "diamonds_plus_report" / f"{batch}.json"
    if report_file.exists():
        reports["diamonds_plus"] = json.loads(report_file.read_text())
    return Ledger(
        batch=batch,
        spans=list(records(spans, SPAN_FIELDS)),
        curated=list(records(table("diamonds_plus", CURATED_FIELDS), CURATED_FIELDS)),
        rejected=list(records(table("diamonds_plus_rejected", REJECTED_FIELDS), REJECTED_FIELDS)),
        quarantine=list(records(table("span_quarantine", QUARANTINE_FIELDS), QUARANTINE_FIELDS)),
        reports=reports,
    )
