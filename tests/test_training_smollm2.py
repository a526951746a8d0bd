"""The real base model: SmolLM2-135M-Instruct from the bundled GGUF, a few LoRA steps on
real ShareGPT examples; the validation loss must come down from the base model's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


@pytest.mark.slow
def test_smollm2_lora_steps_beat_the_base_validation_loss(tmp_path):
    from training_throughput import sharegpt_spans

    from training_assets.base_model.locate import (
        BUNDLED_BASE_MODEL,
        load_causal_lm,
        load_tokenizer,
        locate_base_model,
    )
    from training_assets.training.config import TrainingConfig
    from training_assets.training.dataset import build_examples
    from training_assets.training.run import TrainingData, split_set, train_lora

    location = locate_base_model(BUNDLED_BASE_MODEL)
    cache = tmp_path / "models"
    tokenizer = load_tokenizer(location, cache)
    examples, _ = build_examples(tokenizer, sharegpt_spans(120), 256, 0.15, 0.05)

    data = TrainingData(
        split_set(examples, "train"),
        split_set(examples, "validation").head(8),
        split_set(examples, "golden").head(1),
        256,
        "smollm2",
    )
    config = TrainingConfig(
        max_steps=6,
        checkpoint_every=6,
        batch_size=4,
        packing=True,
        learning_rate=5e-4,
        preview_tokens=16,
    )
    summary = train_lora(
        runs_dir=tmp_path / "runs",
        config=config,
        data=data,
        load_model=lambda: load_causal_lm(location, cache),
        tokenizer=tokenizer,
        base_fingerprint=location.fingerprint,
        log=print,
    )
    assert summary["steps"] == 6
    assert summary["best_val_loss"] < summary["base_val_loss"]
    assert 1.0 < summary["base_val_loss"] < 4.0  # an instruct model, not random weights
