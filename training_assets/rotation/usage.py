"""What the workspace holds, by component, against its budget.

Like `du`, but it knows what each folder is: the landing files, the per-batch tables
(the batch ledgers), the shared embedding cache, the two indexes, training runs, the
deploy folder, converted base models, kernel states and archives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import ByteSize, TypeAdapter, ValidationError

from training_assets.settings import ROTATION_TARGET, ROTATION_THRESHOLD, WORKSPACE_BUDGET

# Folders that are not per-batch tables, by component. Anything else that holds
# `<batch>.parquet` / `<batch>.json` files is a table asset: part of the batch ledgers.
COMPONENT_FOLDERS = {
    "landing": ("landing",),
    "embedding cache": ("embedding_cache",),
    "indexes": ("span_index", "inverted_index"),
    "runs": ("runs",),
    "deploy": ("deploy",),
    "models": ("models",),
    "kernel": ("kernel",),
    "archives": ("archives",),
    "redaction": ("redaction",),  # the engine's compiled rules, digests of found values
}
LEDGER = "batch ledgers"
OTHER = "other"


class BudgetError(ValueError):
    pass


def parse_size(text: str) -> int:
    """'10GB', '200 MB', '1.5GiB', '5000000' → bytes (decimal and binary units)."""
    try:
        return int(TypeAdapter(ByteSize).validate_python(text.strip()))
    except ValidationError as error:
        raise BudgetError(
            f"cannot read {text!r} as a size: use a number of bytes or units like 200MB, 10GB, 1.5GiB"
        ) from error


@dataclass(frozen=True)
class Budget:
    bytes: int
    threshold: float = ROTATION_THRESHOLD.default
    target: float = ROTATION_TARGET.default

    @classmethod
    def from_env(cls) -> Budget:
        return cls.checked(WORKSPACE_BUDGET.get(), ROTATION_THRESHOLD.get(), ROTATION_TARGET.get())

    @classmethod
    def checked(cls, size: str, threshold: float, target: float) -> Budget:
        """A budget from a size (`200MB`, `10GB`) and its shares, or a BudgetError."""
        budget = parse_size(size)
        if budget <= 0 or not 0 < target <= threshold <= 1:
            raise BudgetError(
                "need TRAINING_WORKSPACE_BUDGET > 0 and "
                "0 < TRAINING_ROTATION_TARGET ≤ TRAINING_ROTATION_THRESHOLD ≤ 1"
            )
        return cls(budget, threshold, target)


def tree_bytes(path: Path) -> int:
    """Bytes allocated on disk under `path` (what `du` counts), following no links."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_blocks * 512
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except FileNotFoundError:  # removed while we walked
                continue
    return total


@dataclass(frozen=True)
class Usage:
    components: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.components.values())

    def share_of(self, budget: Budget) -> float:
        return self.total / budget.bytes


def workspace_usage(root: Path) -> Usage:
    components = {name: 0 for name in [*COMPONENT_FOLDERS, LEDGER, OTHER]}
    owner = {folder: name for name, folders in COMPONENT_FOLDERS.items() for folder in folders}
    if root.exists():
        for entry in root.iterdir():
            if entry.name in owner:
                components[owner[entry.name]] += tree_bytes(entry)
            elif entry.is_dir() and (any(entry.glob("*.parquet")) or any(entry.glob("*.json"))):
                components[LEDGER] += tree_bytes(entry)
            else:
                components[OTHER] += tree_bytes(entry)
    return Usage(components)


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
