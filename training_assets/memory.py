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


def process_tree_rss_mb() -> float | None:
    """Resident memory of this process and all its descendants (Linux); None elsewhere."""
    import os

    try:
        parent_of = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as stat:
                        parent_of[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            parent = frontier.pop()
            children = [
                pid for pid, ppid in parent_of.items() if ppid == parent and pid not in tree
            ]
            tree.update(children)
            frontier += children
        total = 0
        for pid in tree:
            try:
                with open(f"/proc/{pid}/status") as status:
                    total += next(
                        (int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0
                    )
            except OSError:
                continue
        return total / 1024
    except OSError:
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
