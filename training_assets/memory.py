"""Process memory: read the resident size, and hand freed heap pages back to the OS."""

from __future__ import annotations

import ctypes


def current_rss_mb() -> float | None:
    """Resident memory of this process (Linux), for progress logs; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def release_free_heap() -> None:
    """Give freed heap pages back to the OS (glibc only; a no-op elsewhere).

    Tokenizer buffers, activation tensors and the Python objects of a finished step
    fragment glibc's heap, and glibc keeps those pages: measured on a 50k-span batch, RSS
    grew by ~90 MB per 4096-text encode chunk without this call and stayed flat with it.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return
