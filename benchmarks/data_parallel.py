"""Data-parallel training on CPU (issue 21): `train_lora` on 2 processes (torchrun, DDP
over gloo, one thread each) against 1 process (two threads) with the same global batch,
on the bundled SmolLM2-135M and ShareGPT examples, alternated round by round.

Tokens/s counts real tokens of the global batch per second of optimizer steps (rank 0's
clock); model loading, the base evaluation and checkpoints fall outside it in both.

    python benchmarks/data_parallel.py --steps 10 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from report import run_stamp, save_report
from training_throughput import sharegpt_spans


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--global-batch", type=int, default=4)
    parser.add_argument("--max-seq-len", type=int, default=256)
    parser.add_argument("--spans", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--precision", default="fp32")
    args = parser.parse_args()

    import polars as pl

    from training_assets.base_model.locate import (
        BUNDLED_BASE_MODEL,
        load_causal_lm,
        load_tokenizer,
        locate_base_model,
    )
    from training_assets.training.config import TrainingConfig
    from training_assets.training.dataset import build_examples, dataset_table
    from training_assets.training.distributed import launch
    from training_assets.training.run import train_lora, training_data

    cache = Path(os.environ.get("TRAINING_WORKSPACE", "workspace")).resolve() / "models"
    model = os.environ.get("TRAINING_BASE_MODEL", BUNDLED_BASE_MODEL)
    location = locate_base_model(model)
    tokenizer = load_tokenizer(location, cache)
    load_causal_lm(location, cache)  # converted once, outside every timing
    spans = sharegpt_spans(args.spans)
    examples, _ = build_examples(tokenizer, spans, args.max_seq_len, 0.02, 0.0)
    ids = pl.DataFrame({"id": [s["id"] for s in spans], "batch": ["bench"] * len(spans)})
    table = dataset_table(examples, ids)
    data = training_data(table, args.max_seq_len)
    common = {
        "max_steps": args.steps,
        "checkpoint_every": args.steps,
        "preview_prompts": 0,
        "max_eval_examples": 2,
        "warmup_steps": 0,
        "lora_dropout": 0.0,
        "resume": False,
        "precision": args.precision,
    }
    results: dict[str, list[float]] = {"one_process": [], "two_processes": []}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for round_ in range(args.rounds):
            order = ("one_process", "two_processes")
            for mode in order if round_ % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                if mode == "one_process":
                    summary = train_lora(
                        runs_dir=root / f"{mode}-{round_}",
                        config=TrainingConfig(**common, batch_size=args.global_batch),
                        data=data,
                        load_model=lambda: load_causal_lm(location, cache),
                        tokenizer=tokenizer,
                        base_fingerprint=location.fingerprint,
                        log=lambda m: None,
                    )
                else:
                    config = TrainingConfig(**common, batch_size=args.global_batch // 2, nproc=2)
                    summary = launch(
                        2,
                        root / f"scratch-{round_}",
                        config.model_dump(),
                        table,
                        model,
                        cache,
                        root / f"{mode}-{round_}",
                        location.fingerprint,
                        lambda m: None,
                    )
                rate = summary["train_tokens_per_second"]
                results[mode].append(rate)
                print(
                    f"round {round_} {mode}: {rate:.1f} tokens/s "
                    f"(wall {time.perf_counter() - started:.0f} s)",
                    file=sys.stderr,
                )
    one = statistics.median(results["one_process"])
    two = statistics.median(results["two_processes"])
    report = {
        **run_stamp(),
        "steps": args.steps,
        "global_batch": args.global_batch,
        "max_seq_len": args.max_seq_len,
        "precision": args.precision,
        "tokens_per_second": results,
        "median_one_process": one,
        "median_two_processes": two,
        "ratio_two_over_one": two / one,
    }
    out = save_report(report, "data_parallel")
    print(
        f"2 processes / 1 process: {two / one:.2f}× ({two:.0f} / {one:.0f} tokens/s) → {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
