"""Checkpoints of a LoRA run: safetensors only, written to a hidden folder and renamed.

`checkpoints/step-000040/` holds the adapter as peft saves it
(`adapter_model.safetensors`, `adapter_config.json`), `training_state.safetensors`
(AdamW moments and the torch RNG state, so a resumed run continues bit for bit) and
`trainer_state.json` (step, scheduler, counters, the evaluation at that step). A folder
appears under its final name only once everything in it is on disk, so a SIGKILL at
any moment leaves either the whole checkpoint or none of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

_NAME = re.compile(r"^step-(\d{6,})$")
STATE_FILE = "trainer_state.json"


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def completed_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first (hidden staging folders are ignored)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME.match(p.name) and (p / STATE_FILE).exists()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(folder: Path, step: int, model, optimizer, scheduler, state: dict) -> Path:
    final = folder / checkpoint_name(step)
    if (final / STATE_FILE).exists():
        return final
    staging = folder / f".{checkpoint_name(step)}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(str(staging), safe_serialization=True)
    optimizer_state = optimizer.state_dict()
    tensors = {
        f"optimizer.{index}.{name}": (value if torch.is_tensor(value) else torch.tensor(value))
        .detach()
        .cpu()
        .contiguous()
        for index, moments in optimizer_state["state"].items()
        for name, value in moments.items()
    }
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    save_file(tensors, str(staging / "training_state.safetensors"))
    payload = {
        **state,
        "step": step,
        "optimizer_param_groups": optimizer_state["param_groups"],
        "scheduler": scheduler.state_dict(),
    }
    (staging / STATE_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    _fsync_tree(staging)
    shutil.rmtree(final, ignore_errors=True)  # an incomplete leftover under the final name
    os.rename(staging, final)
    return final


def load_checkpoint(checkpoint: Path, model, optimizer, scheduler) -> dict:
    """Restore adapter weights, optimizer, scheduler and RNG; return the saved state."""
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, load_file(str(checkpoint / "adapter_model.safetensors")))
    state = json.loads((checkpoint / STATE_FILE).read_text())
    tensors = load_file(str(checkpoint / "training_state.safetensors"))
    moments: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            moments.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": moments, "param_groups": state["optimizer_param_groups"]})
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    return state


def read_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / STATE_FILE).read_text())
