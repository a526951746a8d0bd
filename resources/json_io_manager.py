"""JSON documents (reports) at <base_dir>/<asset_key>/<partition_key>.json, written atomically."""

from __future__ import annotations

import json
import os

import dagster as dg
from dagster import InputContext, OutputContext, UPathIOManager
from upath import UPath

from training_assets.atomic import staging_path


class JsonFiles(UPathIOManager):
    extension: str = ".json"

    def dump_to_path(self, context: OutputContext, obj: dict, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"
        tmp = UPath(staging_path(str(path)))
        try:
            tmp.write_text(text)
            os.replace(str(tmp), str(path))
        finally:
            if tmp.exists():
                tmp.unlink()

    def load_from_path(self, context: InputContext, path: UPath) -> dict:
        return json.loads(path.read_text())


class JsonIOManager(dg.ConfigurableIOManagerFactory):
    base_dir: str

    def create_io_manager(self, context) -> JsonFiles:
        return JsonFiles(base_path=UPath(self.base_dir))
