"""The web UI as a person uses it: `dg dev` on 127.0.0.1, headless Chromium driven by
Playwright. The asset graph shows the design's groups; one batch is launched from the
curation job's page and succeeds; the run page, the diamonds+ quality histogram and the
diamonds+ report table render. Screenshots go to $TRAINING_UI_SCREENSHOTS (default: the
test's temporary folder), with the phase timings in timings.json.

Needs Debian's chromium (`make system-packages` installs it); skips, saying so, without.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.processes import free_port, start_dg_dev, stop_process_group, wait_for_server

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DESIGN_GROUPS = (
    "ingestion",
    "validation",
    "embedding",
    "enrichment",
    "indexing",
    "diamonds_plus",
    "kernel",
    "rotation",
    "feedback",
    "training",
    "evaluation",
    "deploy",
)
CURATION_JOB_PAGE = "/locations/training_assets/jobs/curation_job"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (make system-packages, or apt-get install chromium)",
)


def _land_batches(workspace: Path, tmp_path: Path, instance) -> list[str]:
    """Human→assistant turns of the bundled ShareGPT slice, landed as three small batches."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from data_half import write_input

    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    source = tmp_path / "sharegpt.jsonl"
    write_input(source, 45)
    landed, _ = land_file(source, workspace / "landing", batch_size=16)
    instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    assert len(landed.keys) == 3
    return landed.keys


FINISHED = ("SUCCESS", "FAILURE", "CANCELED")


def _wait_for_runs(instance, count: int, deadline: float) -> list:
    """The instance's runs once `count` of them have finished, newest first."""
    while time.monotonic() < deadline:
        records = instance.get_run_records()
        if sum(r.dagster_run.status.value in FINISHED for r in records) >= count:
            return records
        time.sleep(2)
    raise TimeoutError(f"{count} runs launched from the UI did not finish in time")


def _wait_for_backfill(instance, deadline: float):
    """The one backfill, once the daemon has marked it done (a tick after its last run)."""
    while time.monotonic() < deadline:
        [backfill] = instance.get_backfills()
        if backfill.status.value not in ("REQUESTED", "CANCELING"):
            return backfill
        time.sleep(2)
    raise TimeoutError("the backfill launched from the UI was not marked done in time")


def _pick_batches(page, keys: list[str]) -> None:
    """Open the launch dialog of the job page and tick `keys` in its partition picker."""
    page.get_by_role("button", name="Materialize all").click()
    page.get_by_text("Select a partition or create one").click()
    for key in keys:
        page.get_by_text(key, exact=True).filter(visible=True).first.click()
    page.keyboard.press("Escape")


def test_ui_shows_the_graph_and_runs_a_batch(workspace: Path, tmp_path: Path):
    sync_api = pytest.importorskip("playwright.sync_api")
    import dagster as dg

    shots = Path(os.environ.get("TRAINING_UI_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    # the project's instance settings: the run queue that keeps SQLite from locking
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", Path(os.environ["DAGSTER_HOME"]))
    instance = dg.DagsterInstance.get()
    key, *backfill = _land_batches(workspace, tmp_path, instance)
    timings: dict[str, float] = {}
    started = time.monotonic()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dagster-dev.log"
    # `dg dev`, as a project created today is run ([tool.dg] in pyproject.toml), with
    # DAGSTER_HOME and TRAINING_WORKSPACE of the fixture
    server = start_dg_dev(port, log, dict(os.environ))
    try:
        wait_for_server(url, server, log, timeout=180)
        timings["server_up_s"] = time.monotonic() - started
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            expect = sync_api.expect

            mark = time.monotonic()
            page.goto(f"{url}/asset-groups")
            expect(page.get_by_text("Global asset lineage")).to_be_visible()
            skip = page.get_by_role("button", name="Skip")  # the first-visit newsletter dialog
            with contextlib.suppress(sync_api.TimeoutError):
                skip.click(timeout=5_000)
            for group in DESIGN_GROUPS:
                expect(page.get_by_text(group, exact=True).first).to_be_visible()
            page.screenshot(path=shots / "asset-graph.png")
            timings["asset_graph_s"] = time.monotonic() - mark

            mark = time.monotonic()
            page.goto(f"{url}{CURATION_JOB_PAGE}")
            _pick_batches(page, [key])
            launch = page.get_by_role("button", name="Launch 1 run")
            expect(launch).to_be_enabled()
            page.screenshot(path=shots / "launch-one-batch.png")
            launch.click()
            expect(page.get_by_role("button", name="Launch 1 run")).to_have_count(0)

            # a backfill of the two other batches: BackfillPolicy.multi_run(1), one run each
            _pick_batches(page, backfill)
            launch = page.get_by_role("button", name="Launch backfill")
            expect(launch).to_be_enabled()
            page.screenshot(path=shots / "launch-backfill.png")
            launch.click()
            records = _wait_for_runs(instance, 3, time.monotonic() + 900)
            timings["three_runs_from_ui_s"] = time.monotonic() - mark
            statuses = {r.dagster_run.tags["dagster/partition"]: r.dagster_run.status.value
                        for r in records}  # fmt: skip
            assert statuses == dict.fromkeys([key, *backfill], "SUCCESS"), log.read_text()[-3000:]
            backfill_record = _wait_for_backfill(instance, time.monotonic() + 180)
            assert backfill_record.status.value in ("COMPLETED", "COMPLETED_SUCCESS")
            run = next(r for r in records if r.dagster_run.tags["dagster/partition"] == key)
            assert "dagster/backfill" not in run.dagster_run.tags
            assert all(
                r.dagster_run.tags.get("dagster/backfill") == backfill_record.backfill_id
                for r in records
                if r is not run
            )

            mark = time.monotonic()
            page.goto(f"{url}/runs/{run.dagster_run.run_id}")
            expect(page.get_by_text("Success", exact=True).first).to_be_visible()
            expect(page.get_by_text(f"partition: {key}")).to_be_visible()
            expect(page.get_by_text("RUN_SUCCESS").first).to_be_visible()  # the logs loaded
            page.screenshot(path=shots / "run-succeeded.png")

            page.goto(f"{url}/runs/b/{backfill_record.backfill_id}")
            expect(page.get_by_text(backfill_record.backfill_id).first).to_be_visible()
            expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
            page.screenshot(path=shots / "backfill-completed.png")

            page.goto(f"{url}/assets/diamonds_plus?partition={key}")
            row = page.get_by_role("row").filter(has_text="quality_histogram")
            row.get_by_text("[Show Markdown]").click()  # large Markdown opens in a dialog
            picture = page.locator('img[alt="quality histogram"]')
            expect(picture).to_be_visible()
            assert picture.evaluate("img => img.naturalWidth") > 100  # decoded, not broken
            page.wait_for_timeout(500)  # the dialog's fade-in
            page.screenshot(path=shots / "diamonds-plus-quality-histogram.png")

            page.goto(f"{url}/assets/diamonds_plus_report?partition={key}")
            table_row = page.get_by_role("cell", name="spans processed", exact=True)
            table_row.scroll_into_view_if_needed()
            expect(table_row).to_be_visible()
            page.screenshot(path=shots / "diamonds-plus-report.png")
            timings["pages_after_runs_s"] = time.monotonic() - mark
            browser.close()
    finally:
        mark = time.monotonic()
        stop_process_group(server)
        timings["shutdown_s"] = time.monotonic() - mark
    timings["total_s"] = time.monotonic() - started
    (shots / "timings.json").write_text(
        json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=2) + "\n"
    )
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "asset-graph.png",
        "backfill-completed.png",
        "diamonds-plus-quality-histogram.png",
        "diamonds-plus-report.png",
        "launch-backfill.png",
        "launch-one-batch.png",
        "run-succeeded.png",
    ]
