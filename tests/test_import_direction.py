"""Imports point down the asset graph: a stage imports earlier stages and the shared
packages below them, never a later stage; the shared packages import no stage; nothing
imports the CLI. Read from the source (lazy imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

from training_assets.stages import STAGES

PACKAGE = Path(__file__).resolve().parents[1] / "training_assets"
# packages below every stage: what they may import is each other, never a stage
SHARED = ("lm", "spans", "redaction", "base_model")
# the top: they may import anything but each other's way round (cli -> launch, demo)
TOP = ("cli", "definitions", "launch", "demo")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {n for n in names if n.startswith("training_assets.")}


def part_of(module: str) -> str:
    return module.split(".")[1]


def owner(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def test_no_stage_imports_a_later_stage_and_shared_packages_import_no_stage():
    order = {stage: position for position, stage in enumerate(STAGES)}
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = owner(path)
        for module in imported_modules(path):
            there = part_of(module)
            if there == here:
                continue
            if here in order and there in order and order[there] > order[here]:
                wrong.append(f"{path.relative_to(PACKAGE)} (stage {here}) imports {module}")
            if here in SHARED and there in order:
                wrong.append(f"{path.relative_to(PACKAGE)} (shared) imports stage {module}")
            if there in TOP and here not in TOP:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module} from the top")
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_the_cli():
    roots = [PACKAGE, PACKAGE.parent / "benchmarks", PACKAGE.parent / "sensors"]
    roots.append(PACKAGE.parent / "resources")
    importers = [
        str(path)
        for root in roots
        for path in root.rglob("*.py")
        if path.name != "cli.py" and "training_assets.cli" in imported_modules(path)
    ]
    assert not importers, importers
