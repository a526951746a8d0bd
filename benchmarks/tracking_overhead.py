"""MLflow tracking overhead per training step (issue 20; goal: under 1 % of step time).

The same `train_lora` run (bundled SmolLM2-135M, ShareGPT examples, LoRA r=16) with and
without the project's MLflow logger (`training_assets.tracking.TrainingRunLogger` on a
fresh SQLite store, per-step metrics through MLflow's async queue), alternated round by
round in one process. Two figures:

- **in-loop share**: seconds the training loop spent inside the logger's per-step calls /
  seconds of optimizer steps, in the tracked runs (what tracking takes from the loop);
- **A/B ratio**: step time tracked / untracked, per round (the pair runs back to back),
  median over rounds: what it costs end to end, the background writer included; noisy
  at the 1 % level on two cores.

The run's closing work (flush, artifacts, params) is reported apart: it happens once per
run, after the last step.

    python benchmarks/tracking_overhead.py --steps 20 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from report import run_stamp, save_report
from training_throughput import prepare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--spans", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="bf16")
    args = parser.parse_args()

    from training_assets.base_model.locate import load_causal_lm
    from training_assets.tracking import Tracker, TrainingRunLogger
    from training_assets.training.config import TrainingConfig
    from training_assets.training.run import train_lora
    from training_assets.training.run_folder import RunFolder

    location, cache, tokenizer, data = prepare(args.spans, args.max_seq_len)
    config = TrainingConfig(
        max_steps=args.steps,
        batch_size=args.batch_size,
        checkpoint_every=args.steps,
        preview_prompts=0,
        max_eval_examples=4,
        warmup_steps=0,
        resume=False,
        precision=args.precision,
    )
    results: dict[str, list[dict]] = {"tracked": [], "untracked": []}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        tracker = Tracker(f"sqlite:///{root / 'mlflow.db'}", "overhead", root / "artifacts")
        for round_ in range(args.rounds):
            order = ("tracked", "untracked") if round_ % 2 == 0 else ("untracked", "tracked")
            for mode in order:
                logger = (
                    TrainingRunLogger(tracker, config.model_dump(), {"bench": "1"})
                    if mode == "tracked"
                    else None
                )
                summary = train_lora(
                    runs_dir=root / f"{mode}-{round_}",
                    config=config,
                    data=data,
                    load_model=lambda: load_causal_lm(location, cache),
                    tokenizer=tokenizer,
                    base_fingerprint=location.fingerprint,
                    log=lambda m: None,
                    on_metrics=logger,
                )
                measured = {
                    "step_seconds": summary["train_seconds"] / summary["steps"],
                    "tokens_per_second": summary["train_tokens_per_second"],
                }
                if logger:
                    started = time.perf_counter()
                    logger.finish(summary, RunFolder(Path(summary["run_dir"])))
                    measured["closing_seconds"] = time.perf_counter() - started
                    measured["in_loop_seconds_per_step"] = (
                        logger.run.seconds_in_calls / summary["steps"]
                    )
                    measured["in_loop_share"] = (
                        logger.run.seconds_in_calls / summary["train_seconds"]
                    )
                results[mode].append(measured)
                print(f"round {round_} {mode}: {measured}", file=sys.stderr)
    tracked, untracked = results["tracked"], results["untracked"]
    report = {
        **run_stamp(),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "max_seq_len": args.max_seq_len,
        "precision": args.precision,
        "rounds": results,
        "median_step_seconds_untracked": statistics.median(r["step_seconds"] for r in untracked),
        "median_step_seconds_tracked": statistics.median(r["step_seconds"] for r in tracked),
        "median_in_loop_share": statistics.median(r["in_loop_share"] for r in tracked),
        "median_in_loop_ms_per_step": 1000
        * statistics.median(r["in_loop_seconds_per_step"] for r in tracked),
        "median_closing_seconds": statistics.median(r["closing_seconds"] for r in tracked),
    }
    # each round's pair ran back to back: its ratio cancels the drift between rounds
    paired = [
        t["step_seconds"] / u["step_seconds"] for t, u in zip(tracked, untracked, strict=True)
    ]
    report["paired_ratios_tracked_over_untracked"] = paired
    report["ab_ratio_tracked_over_untracked"] = statistics.median(paired)
    out = save_report(report, "tracking_overhead")
    print(
        f"in-loop share {report['median_in_loop_share']:.4%} "
        f"({report['median_in_loop_ms_per_step']:.2f} ms/step of "
        f"{report['median_step_seconds_tracked'] * 1000:.0f} ms); A/B step-time ratio "
        f"{report['ab_ratio_tracked_over_untracked']:.3f}; closing {report['median_closing_seconds']:.2f} s "
        f"→ {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
