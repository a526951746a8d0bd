"""Quiet by default: library progress bars off in every process the package starts,
back with TRAINING_VERBOSE=1 or `training-assets --verbose`."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = (
    "import os, training_assets\n"
    "from tqdm import tqdm\n"
    "for _ in tqdm(range(3), desc='probe'): pass\n"
    "print(os.environ.get('TQDM_DISABLE'), os.environ.get('HF_HUB_DISABLE_PROGRESS_BARS'))\n"
)


def _probe(extra: dict) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "TRAINING_VERBOSE")}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    return subprocess.run(
        [sys.executable, "-c", PROBE], env={**env, **extra}, capture_output=True, text=True
    )


def test_progress_bars_are_off_by_default_and_on_when_verbose():
    quiet = _probe({})
    assert quiet.stdout.split() == ["1", "1"] and "probe" not in quiet.stderr
    loud = _probe({"TRAINING_VERBOSE": "1"})
    assert loud.stdout.split() == ["None", "None"] and "probe" in loud.stderr
    mine = _probe({"TQDM_DISABLE": "0"})  # a value the user set stays
    assert mine.stdout.split() == ["0", "1"]


def test_the_cli_verbose_flag_turns_them_back_on():
    from training_assets.quiet import be_verbose, verbose

    saved = dict(os.environ)
    try:
        os.environ["TQDM_DISABLE"] = "1"
        be_verbose()
        assert verbose() and "TQDM_DISABLE" not in os.environ
    finally:
        os.environ.clear()
        os.environ.update(saved)
