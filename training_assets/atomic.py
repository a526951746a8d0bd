"""Crash-safe file writes: write beside the target, fsync, then rename over it.

A staging file is named after its writer (`.<target>.<host>-<pid>.<random>.tmp`): a
process killed with SIGKILL cannot remove its own, so the next write of the same target
removes those whose writer, on this host, is gone. A live writer's (a second run of the
same batch at once) and another host's are left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_HOST = hashlib.blake2b(socket.gethostname().encode(), digest_size=4).hexdigest()


def process_alive(pid: int) -> bool:
    """Is process `pid` of this host still there?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_staging(target: Path) -> list[Path]:
    """Remove the staging files of `target` left by writers of this host that are gone."""
    removed = []
    for staging in target.parent.glob(f".{target.name}.{_HOST}-*.tmp"):
        writer = staging.name[len(target.name) + 2 :].split(".", 1)[0]
        pid = writer.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            staging.unlink(missing_ok=True)
            removed.append(staging)
    return removed


def staging_path(target: Path | str) -> Path:
    """A fresh staging name beside `target`, named after this writer; dead writers' go."""
    target = Path(target)
    remove_dead_staging(target)
    token = os.urandom(6).hex()
    return target.with_name(f".{target.name}.{_HOST}-{os.getpid()}.{token}.tmp")


@contextlib.contextmanager
def atomic_path(target: Path | str) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `target` on success.

    On any exception the temporary file is removed and `target` is left as it was, so a
    reader never sees a half-written artifact.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = staging_path(target)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # made 0600 above; the artifact is an ordinary file
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: Path | str, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(target: Path | str, payload: Any) -> None:
    write_bytes_atomic(target, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())
