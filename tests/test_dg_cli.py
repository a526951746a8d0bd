"""Dagster's project CLI (`dg`, [tool.dg] in pyproject.toml) and the classic one on the same
code location; every natural selection of the curation assets materializes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from tests.conftest import land_and_curate, partition_materializations, span, write_lines

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_dg_checks_and_lists_the_definitions():
    checked = _run([str(BIN / "dg"), "check", "defs"])
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr
    listed = _run([str(BIN / "dg"), "list", "defs", "--json"])
    assert listed.returncode == 0, listed.stderr[-3000:]
    defs = json.loads(listed.stdout)
    assets = {a["asset_key"] for a in defs["assets"]}
    assert {"raw_spans", "diamonds_plus", "diamonds_plus_report", "best_checkpoint"} <= assets
    assert {s["name"] for s in defs["sensors"]} >= {"best_checkpoint_sensor", "low_data_sensor"}
    assert {j["name"] for j in defs["jobs"]} >= {"curation_job", "training_job", "deploy_job"}
    checks = {c["key"] for c in defs["asset_checks"]}
    assert {"best_checkpoint:better_than_reference", "span_embeddings:agrees_with_fp32"} <= checks


def test_each_natural_selection_of_diamonds_plus_materializes(workspace, tmp_path):
    instance = dg.DagsterInstance.get()
    key = land_and_curate(
        workspace, write_lines(tmp_path / "spans.jsonl", [span(i) for i in range(6)]), instance
    )

    def materializations(asset: str) -> int:
        return partition_materializations(instance, asset, key)

    classic = [str(BIN / "dagster"), "asset", "materialize", "-m", "training_assets.definitions"]
    alone = _run(classic + ["--select", "diamonds_plus", "--partition", key])
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert materializations("diamonds_plus") == 2
    assert (
        materializations("diamonds_plus_report") == materializations("diamonds_plus_rejected") == 1
    )

    parents = _run(classic + ["--select", "+diamonds_plus", "--partition", key])
    assert parents.returncode == 0, parents.stderr[-3000:]
    assert materializations("diamonds_plus") == 3 and materializations("enriched_spans") == 2

    launched = _run(
        [str(BIN / "dg"), "launch", "--assets", "diamonds_plus_report", "--partition", key]
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert materializations("diamonds_plus_report") == 2 and materializations("diamonds_plus") == 3
