"""Training data and runs on the tiny test model; also a script for the SIGKILL test:

python tests/training_helpers.py MODEL_DIR RUNS_DIR KILL_AT_STEP
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from training_assets.training.config import TrainingConfig
from training_assets.training.dataset import build_examples
from training_assets.training.run import TrainingData, split_set, train_lora

TOPICS = ["lists", "dicts", "files", "tests", "loops", "classes", "strings", "sets"]


def qa_spans(count: int = 120) -> list[dict]:
    """Short question/answer spans, some with an earlier turn as context."""
    spans = []
    for i in range(count):
        topic = TOPICS[i % len(TOPICS)]
        span = {
            "id": f"qa-{i:04d}",
            "system": None,
            "this": f"How do I use {topic} in Python, case {i}?",
            "if_ok": f"Use {topic} like this: see the {topic} chapter, example {i % 7}.",
            "context": [],
        }
        if i % 3 == 0:
            span["context"] = [{"this": f"I am learning {topic}.", "if_ok": "Good, ask away."}]
        spans.append(span)
    return spans


def tiny_data(tokenizer, count: int = 120, max_seq_len: int = 96) -> TrainingData:
    examples, _ = build_examples(tokenizer, qa_spans(count), max_seq_len, 0.15, 0.08)

    return TrainingData(
        split_set(examples, "train"),
        split_set(examples, "validation"),
        split_set(examples, "golden"),
        max_seq_len,
        f"qa{count}",
    )


def tiny_config(**overrides) -> TrainingConfig:
    values = {
        "max_steps": 8,
        "checkpoint_every": 2,
        "batch_size": 4,
        "learning_rate": 2e-2,
        "lora_r": 8,
        "lora_alpha": 16,
        "preview_prompts": 1,
        "preview_tokens": 4,
        "max_eval_examples": 8,
    }
    return TrainingConfig(**{**values, **overrides})


def run_tiny(model_dir: Path, runs_dir: Path, on_step=None, **overrides) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return train_lora(
        runs_dir=runs_dir,
        config=tiny_config(**overrides),
        data=tiny_data(tokenizer),
        load_model=lambda: AutoModelForCausalLM.from_pretrained(str(model_dir)),
        tokenizer=tokenizer,
        base_fingerprint="tiny",
        log=lambda message: None,
        on_step=on_step,
    )


if __name__ == "__main__":
    model_dir, runs_dir, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])

    def kill(step: int) -> None:
        if step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    run_tiny(model_dir, runs_dir, on_step=kill)
