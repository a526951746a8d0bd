"""Child servers of tests and benchmarks: a free local port, and stopping a process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def default_signals() -> None:
    """`preexec_fn` for a server the test stops with SIGTERM: signals unblocked and at
    their default actions. A child inherits its parent's signal mask and ignored
    signals across exec, and the test process may have picked up either from a library
    in an earlier test; a server that never sees the SIGTERM costs the two grace periods
    of `stop_process_group`."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def start_dg_dev(port: int, log: Path, env: dict[str, str]) -> subprocess.Popen:
    """`dg dev` (webserver + daemon) of this repository on 127.0.0.1:`port`, in its own
    process group (stop it with `stop_process_group`), its output in `log`."""
    repo = Path(__file__).resolve().parents[1]
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dg"), "dev", "--host", "127.0.0.1"]
        + ["--port", str(port)],
        cwd=repo,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=default_signals,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process_group(process: subprocess.Popen, grace: float = 60.0) -> None:
    """SIGTERM the group of `process` (started with start_new_session=True), so that
    servers shut down warm; wait for the leader and then for the rest of the group (pool
    workers, webserver, daemon), each up to `grace` seconds; SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # anyone left in the group?
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_for_server(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until `url`/server_info answers (a Dagster webserver up), or `process` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/server_info", timeout=5) as response,
        ):
            if response.status == 200:
                return
        time.sleep(1)
    raise TimeoutError(f"dagster dev did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
