"""The asset graph is a contract (DESIGN.md): asset keys, groups, kinds, dependencies,
partitions, checks, jobs, sensors and schedules are pinned in tests/asset_graph.json.

A change that renames, regroups or rewires an asset fails here; when it is meant,
regenerate the snapshot with `UPDATE_ASSET_GRAPH=1 pytest tests/test_asset_graph_contract.py`
and let the diff show it in review.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from training_assets.definitions import build_definitions

SNAPSHOT = Path(__file__).with_name("asset_graph.json")


def graph_facts(root: Path) -> dict:
    definitions = build_definitions(str(root))
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "partitioned": node.is_partitioned,
            "materializable": node.is_materializable,
            "checks": sorted(check.name for check in node.check_keys),
        }
    repository = definitions.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(
            job.name for job in repository.get_all_jobs() if not job.name.startswith("__")
        ),
        "sensors": sorted(sensor.name for sensor in repository.sensor_defs),
        "schedules": sorted(schedule.name for schedule in repository.schedule_defs),
    }


def test_the_asset_graph_matches_its_snapshot(tmp_path: Path):
    facts = graph_facts(tmp_path / "workspace")
    if os.environ.get("UPDATE_ASSET_GRAPH"):
        SNAPSHOT.write_text(json.dumps(facts, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert facts == expected, (
        "the asset graph changed; if that is meant, run "
        "`UPDATE_ASSET_GRAPH=1 pytest tests/test_asset_graph_contract.py` and commit the diff"
    )
