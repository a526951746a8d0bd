"""Feedback for preference tuning (issue 21): records a few hundred realistic good and bad
answers through the CLI (`training-assets feedback record --from-jsonl`), then runs the
preference job (`training-assets prefer`) and reports the held-out preference margin and
win rate, and the golden metrics with intervals, before (the SFT checkpoint) and after.

The prompts are the *train* split of the workspace's training_dataset (never validation
or golden: the golden set must stay unseen by every stage). For each prompt, in sessions
of up to three turns:

- good (positive, score 4–5): the dataset's reference answer;
- bad (negative, score 0–2), one of the ways answers go wrong in logs: another prompt's
  answer (off topic), the reference cut after its first sentence (gives up), or a
  hedge-and-refuse reply;
- 60 % of prompts get both (DPO pairs), the rest one answer only (unpaired, KTO-style).

Needs a workspace where `make demo` (or the training job) has run: training_dataset and
best_checkpoint.

    python benchmarks/preference_feedback.py --prompts 180 --max-steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import run_stamp, save_report

REFUSALS = [
    "I'm not sure about that. You may want to look it up elsewhere.",
    "Sorry, I can't help with this request.",
    "That depends on many factors, so it is hard to say anything useful.",
    "I don't have enough information to answer.",
]


def bad_answer(rng: random.Random, reference: str, other: str) -> tuple[str, str]:
    kind = rng.choice(["off_topic", "gives_up", "refuses"])
    if kind == "off_topic":
        return other, kind
    if kind == "gives_up":
        first = reference.split(". ")[0].strip()
        cut = first[: max(20, len(first) // 2)].rstrip()
        return f"{cut}…", kind
    return rng.choice(REFUSALS), kind


def interactions(prompts: list[dict], seed: int) -> list[dict]:
    rng = random.Random(seed)
    lines, session, turn = [], 0, 0
    for index, prompt in enumerate(prompts):
        if turn == 0:
            session += 1
        turn = (turn + 1) % rng.choice([1, 2, 3])
        other = prompts[(index + 1 + rng.randrange(len(prompts) - 1)) % len(prompts)]["answer"]
        base = {
            "query": prompt["query"],
            "model_version": "demo",
            "session": f"demo-{session}",
            "intent": "chat",
        }
        good = {**base, "response": prompt["answer"], "feedback": "positive"}
        good["score"] = float(rng.choice([4, 5]))
        text, _ = bad_answer(rng, prompt["answer"], other)
        bad = {
            **base,
            "response": text,
            "feedback": "negative",
            "score": float(rng.choice([0, 1, 2])),
        }
        roll = rng.random()
        chosen = [good, bad] if roll < 0.6 else [good] if roll < 0.8 else [bad]
        rng.shuffle(chosen)
        lines += chosen
    return lines


def cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "training-assets"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=180)
    parser.add_argument("--max-steps", type=int, default=40)
    parser.add_argument("--golden", type=int, default=64)
    parser.add_argument("--checkpoint-every", type=int, default=20)
    parser.add_argument("--max-seq-len", type=int, default=512, help="preference examples")
    parser.add_argument("--batch-size", type=int, default=2, help="pairs (DPO) per step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import polars as pl

    workspace = Path(os.environ.get("TRAINING_WORKSPACE", "workspace")).resolve()
    table = pl.read_parquet(workspace / "training_dataset.parquet")
    train = table.filter(pl.col("split") == "train").sort("id").head(args.prompts)
    prompts = [
        {"query": m[-2]["content"], "answer": m[-1]["content"]} for m in train["messages"].to_list()
    ]
    lines = interactions(prompts, args.seed)
    env = {**os.environ, "TRAINING_WORKSPACE": str(workspace)}
    with tempfile.TemporaryDirectory() as folder:
        if not env.get("TRAINING_SETTINGS"):  # this run's sizes, through the settings file
            settings = Path(folder) / "settings.yaml"
            settings.write_text(
                f"preference: {{max_seq_len: {args.max_seq_len}, batch_size: {args.batch_size}}}\n"
            )
            env["TRAINING_SETTINGS"] = str(settings)
        source = Path(folder) / "feedback.jsonl"
        source.write_text("".join(json.dumps(line) + "\n" for line in lines))
        recorded = cli(["feedback", "record", "--create", "--from-jsonl", str(source)], env)
        if recorded.returncode != 0:
            print(recorded.stderr, file=sys.stderr)
            return 1
        print(recorded.stderr.strip(), file=sys.stderr)
        print(cli(["feedback", "preferences"], env).stdout, file=sys.stderr)

        started = time.perf_counter()
        run = cli(
            ["prefer", "--max-steps", str(args.max_steps), "--golden", str(args.golden)]
            + ["--checkpoint-every", str(args.checkpoint_every), "--max-new-tokens", "128"],
            env,
        )
        seconds = time.perf_counter() - started
        if run.returncode != 0:
            print(run.stderr[-4000:], file=sys.stderr)
            return 1
    evals = json.loads((workspace / "preference_evals.json").read_text())
    summary = json.loads((workspace / "preference_checkpoints.json").read_text())
    report = {
        **run_stamp(),
        "interactions": len(lines),
        "prompts": len(prompts),
        "method": summary["method"],
        "steps": summary["steps"],
        "seconds": seconds,
        "checkpoints": [
            {k: v for k, v in c.items() if k != "heldout_gaps"} for c in summary["checkpoints"]
        ],
        "margins": evals["margins"],
        "verdicts": evals["verdicts"],
        "golden": {
            name: {
                "golden_loss_gain": c["golden_loss_gain"],
                "golden": c["golden"],
            }
            for name, c in evals["comparisons"].items()
        },
        "best": evals["best"],
    }
    out = save_report(report, "preference_feedback")
    for checkpoint in report["checkpoints"]:
        print(
            f"{checkpoint['checkpoint']}: held-out margin {checkpoint['heldout_margin']:+.4f} "
            f"win rate {checkpoint['heldout_win_rate']:.3f}",
            file=sys.stderr,
        )
    print(f"{report['method']} in {seconds:.0f} s; best {report['best']} → {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
