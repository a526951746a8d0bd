"""Faults a real run meets: kill -9 mid-encode and mid-index-sync, two runs of one batch at
once, a full disk. Each gives a clear error or recovers, leaves no half-written artifact,
no staging file and no held lock, and the next run succeeds with every line accounted for.

The runs are the real CLI (`training-assets materialize`) in child processes, killed from
outside with SIGKILL; the index-sync kills come from inside the child, at a chosen point
of the save (a small driver patches one function, then calls the CLI's main).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import span, write_lines
from tests.test_cli import run_cli

REPO = Path(__file__).resolve().parents[1]


def varied_spans(count: int, seed: str) -> list[dict]:
    """Spans whose texts all differ (the embedding cache is keyed by text)."""
    topics = ["sorting", "parsing dates", "reading CSV", "HTTP retries", "regex groups"]
    return [
        span(
            i,
            id=f"{seed}-{i}",
            this=f"[{seed} {i}] How do I handle {topics[i % len(topics)]} in Python, case {i}?",
            if_ok=f"For case {i} of {topics[i % len(topics)]}, use the standard library; "
            f"{seed} example number {i * 7 + 3} shows how.",
        )
        for i in range(count)
    ]


def cli_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "TRAINING_WORKSPACE": str(tmp_path / "workspace")}
    env["DAGSTER_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO)
    return env


def cli(args: list[str], env: dict[str, str]):
    return run_cli(args, REPO, env)


def start_materialize(key: str, env: dict[str, str], **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "training_assets.cli", "materialize", "--partition", key]
    return subprocess.Popen(command, cwd=REPO, env=env, **popen)


def ingest(source: Path, env: dict[str, str]) -> str:
    result = cli(["ingest", str(source)], env)
    assert result.returncode == 0, result.stderr
    [key] = result.stdout.split()
    return key


# Runs the CLI in a child whose `target` (module:function) kills its own process at the
# chosen point: SIGKILL from inside, so no handler, no finally, no atexit runs.
KILLING_DRIVER = textwrap.dedent(
    """
    import importlib, os, signal, sys
    module_name, name, when = sys.argv[1], sys.argv[2], sys.argv[3]
    module = importlib.import_module(module_name)
    original = getattr(module, name)

    def killing(*args, **kwargs):
        if when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        original(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(module, name, killing)
    from training_assets.cli import main
    sys.exit(main(sys.argv[4:]))
    """
)


def killed_inside(env: dict[str, str], target: str, when: str, args: list[str]) -> int:
    module, name = target.split(":")
    result = subprocess.run(
        [sys.executable, "-c", KILLING_DRIVER, module, name, when, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode


def cached_vectors(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM vectors").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def assert_nothing_half_written(root: Path) -> None:
    """No staging file, no held lock, and every artifact reads whole."""
    import polars as pl

    staging = [p for p in root.rglob("*.tmp")] + list(root.rglob(".incoming*"))
    assert not staging, f"staging files left: {staging}"
    for lock in root.rglob(".lock"):
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if still held
            fcntl.flock(handle, fcntl.LOCK_UN)
    for table in root.rglob("*.parquet"):
        pl.read_parquet(table)
    for document in root.rglob("*.json"):
        json.loads(document.read_text())
    for database in root.rglob("*.sqlite"):
        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def run_facts(env: dict[str, str], key: str) -> dict:
    """What the instance holds for the batch: run statuses, the last check results,
    the last span_embeddings metadata, and what the index holds."""
    import dagster as dg
    import polars as pl

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}))
            statuses = [run.status.value for run in reversed(runs)]
            last = runs[0].run_id
            checks = {}
            for record in instance.get_records_for_run(
                last, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records:
                data = record.event_log_entry.dagster_event.event_specific_data
                checks[data.check_name] = data.passed
            embedded = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("span_embeddings")), limit=1
            ).records[0]
            metadata = {k: v.value for k, v in embedded.asset_materialization.metadata.items()}
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    index_dir = Path(env["TRAINING_WORKSPACE"]) / "span_index"
    manifest = json.loads((index_dir / "manifest.json").read_text())
    live = pl.read_parquet(index_dir / f"labels-{manifest['generation']}.parquet").filter(
        ~pl.col("deleted")
    )
    assert live["span_id"].n_unique() == live.height, "a span indexed twice"
    return {"statuses": statuses, "checks": checks, "embedding": metadata, "indexed": live.height}


def test_kill_mid_encode_and_mid_index_sync_then_a_rerun_recovers(tmp_path: Path):
    env = cli_env(tmp_path)
    workspace = Path(env["TRAINING_WORKSPACE"])
    key = ingest(write_lines(tmp_path / "big.jsonl", varied_spans(600, "kill")), env)
    cache = workspace / "embedding_cache" / "vectors.sqlite"

    # 1. kill -9 from outside once part of the batch is embedded and cached
    child = start_materialize(
        key, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 400
    while cached_vectors(cache) < 256 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert child.poll() is None, "the run ended before the kill: give it more spans"
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    cached_at_kill = cached_vectors(cache)
    assert 256 <= cached_at_kill < 1200

    # 2. killed inside the index save: the new generation's index written to its staging
    #    file and read back, but not renamed
    # 3. killed with index and labels renamed but no manifest written
    for target, when in (
        ("training_assets.indexing.hnsw:_check_saved", "after"),
        ("training_assets.indexing.hnsw:write_json_atomic", "before"),
    ):
        rc = killed_inside(env, target, when, ["materialize", "--partition", key])
        assert rc == -signal.SIGKILL, target
    index_dir = workspace / "span_index"
    assert not (index_dir / "manifest.json").exists()  # the kills came before any manifest
    assert list(index_dir.glob(".*.tmp")) or list(index_dir.glob("*-1.*"))

    # 4. the rerun: resumes the encode from the cache, installs the index, all checks pass
    result = cli(["materialize", "--partition", key], env)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = run_facts(env, key)
    assert facts["statuses"] == ["FAILURE", "FAILURE", "FAILURE", "SUCCESS"], facts
    assert facts["checks"] and all(facts["checks"].values()), facts["checks"]
    assert facts["embedding"]["cache_hits"] == 1200 and facts["embedding"]["encoded"] == 0
    assert facts["indexed"] == 600
    assert_nothing_half_written(workspace)


def test_two_runs_of_one_batch_at_once_both_succeed_and_index_it_once(tmp_path: Path):
    env = cli_env(tmp_path)
    key = ingest(write_lines(tmp_path / "twice.jsonl", varied_spans(60, "twice")), env)
    runs = [
        start_materialize(key, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outcomes]
    facts = run_facts(env, key)
    assert facts["statuses"] == ["SUCCESS", "SUCCESS"]
    assert all(facts["checks"].values()), facts["checks"]
    assert facts["indexed"] == 60
    assert_nothing_half_written(Path(env["TRAINING_WORKSPACE"]))


# Run inside a user + mount namespace (`unshare -rm`): the workspace is a small tmpfs that
# a filler file fills to the chosen free space; then the filler goes and the run is redone.
FULL_DISK_DRIVER = textwrap.dedent(
    """
    import json, os, subprocess, sys
    workspace, source, size_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
    free_after = [int(x) for x in sys.argv[4].split(",")]
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", workspace], check=True)

    def cli(*args):
        r = subprocess.run([sys.executable, "-m", "training_assets.cli", *args],
                           capture_output=True, text=True)
        return {"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr[-6000:]}

    import gzip
    bomb = os.path.join(os.path.dirname(source), "bomb.jsonl.gz")
    with gzip.open(bomb, "wb") as handle:
        handle.write(b" " * (64 << 20))  # 64 MiB of blanks, 65 KB of gzip
    out = {"bomb": cli("ingest", bomb)}
    out["landing_after_bomb"] = sorted(os.listdir(os.path.join(workspace, "landing")))
    out["ingest"] = cli("ingest", source)
    out["runs"] = []
    key = out["ingest"]["stdout"].strip()
    filler = os.path.join(workspace, "filler")
    for free in free_after:
        with open(filler, "wb"):
            pass
        st = os.statvfs(workspace)
        grow = st.f_bavail * st.f_frsize - free
        with open(filler, "wb") as handle:
            handle.truncate(0)
            os.posix_fallocate(handle.fileno(), 0, max(grow, 1))
        result = cli("materialize", "--partition", key)
        result["free"] = free
        tmp = [os.path.join(d, f) for d, _, fs in os.walk(workspace) for f in fs
               if f.endswith(".tmp") or f.startswith(".incoming")]
        result["staging_left"] = tmp
        out["runs"].append(result)
    os.unlink(filler)
    out["after"] = cli("materialize", "--partition", key)
    leftovers = []
    import polars as pl
    for d, _, fs in os.walk(workspace):
        for f in fs:
            path = os.path.join(d, f)
            if f.endswith(".tmp") or f.startswith(".incoming"):
                leftovers.append(path)
            elif f.endswith(".parquet"):
                pl.read_parquet(path)
    out["leftovers"] = leftovers
    print(json.dumps(out))
    """
)


SHORT_WRITE_DRIVER = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    import numpy as np
    from training_assets.indexing.hnsw import SpanIndex, save_span_index
    directory = Path(sys.argv[1])
    index = SpanIndex(384)
    vectors = np.random.default_rng(0).standard_normal((2000, 384)).astype(np.float32)
    index.add_batch("b", "f", [f"s{i}" for i in range(2000)], vectors)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
    try:
        save_span_index(index, directory)
    except OSError as error:
        print("refused:", error)
        sys.exit(3)
    """
)


def test_an_index_the_disk_cut_short_is_refused_not_renamed_into_place(tmp_path: Path):
    """hnswlib writes through an unchecked stream: a short write (full disk, file size
    limit) leaves a truncated file and no error. The save reads it back first."""
    directory = tmp_path / "span_index"
    result = subprocess.run(
        [sys.executable, "-c", SHORT_WRITE_DRIVER, str(directory)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert "does not read back" in result.stdout
    assert sorted(p.name for p in directory.iterdir()) == []  # no index, no staging file


def _can_mount_tmpfs() -> str | None:
    if shutil.which("unshare") is None:
        return "unshare is not installed (util-linux)"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"user and mount namespaces are not allowed here: {probe.stderr.strip()}"
    return None


def test_a_full_workspace_disk_fails_clearly_and_the_next_run_succeeds(tmp_path: Path):
    why_not = _can_mount_tmpfs()
    if why_not:
        pytest.skip(why_not)
    env = cli_env(tmp_path)
    workspace = Path(env["TRAINING_WORKSPACE"])
    workspace.mkdir()
    source = write_lines(tmp_path / "disk.jsonl", varied_spans(200, "disk"))
    result = subprocess.run(
        ["unshare", "-rm", sys.executable, "-c", FULL_DISK_DRIVER, str(workspace), str(source)]
        + ["24", "65536,1048576,3145728"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["bomb"]["rc"] == 1 and "would leave less than" in out["bomb"]["stderr"]
    assert [n for n in out["landing_after_bomb"] if not n.startswith(".lock")] == []
    assert out["ingest"]["rc"] == 0, out["ingest"]["stderr"]
    for run in out["runs"]:
        summary = [line for line in run["stderr"].splitlines() if ": step " in line]
        print(f"{run['free']} bytes free:", *summary, sep="\n  ")  # shown with -s
        assert run["rc"] == 1, run
        assert "the workspace disk is full" in run["stderr"], run["stderr"]
        assert any(m in run["stderr"] for m in ("No space left", "disk is full", "I/O error"))
        assert run["staging_left"] == [], run["staging_left"]
    assert out["after"]["rc"] == 0, out["after"]["stderr"]
    assert out["leftovers"] == []
