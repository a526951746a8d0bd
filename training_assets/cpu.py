"""What this machine's CPU can do fast, read without importing torch (the code location
loads without it)."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def cpu_has_bf16() -> bool:
    """Does this CPU multiply bf16 in hardware (AVX512-BF16 or AMX)? Linux flags; False
    where they cannot be read."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))
