"""Autocast for a device and a reduced precision (bf16 on CPUs that have it, fp16/bf16 on
CUDA), or no autocast at all for fp32."""

from __future__ import annotations

from contextlib import nullcontext

import torch


def autocast_for(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
