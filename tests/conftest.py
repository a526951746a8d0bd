"""Shared fixtures: a temporary workspace and Dagster home, and span-file builders."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Kingfisher compiles its rules once per cache folder (~7 s); every test workspace and
# every step subprocess shares one folder instead of compiling again
os.environ.setdefault(
    "KF_RULE_CACHE_DIR", os.path.join(tempfile.gettempdir(), "training-assets-kingfisher-rules")
)


def span(i: int, **overrides) -> dict:
    """A valid completed diamond span; override any field (None deletes it)."""
    record = {
        "id": f"span-{i}",
        "who": "agent",
        "did": "answer",
        "this": f"How do I sort a list number {i} in Python?",
        "if_ok": "Use sorted(items) for a new list or items.sort() to sort in place.",
        "when": "2026-11-01T12:00:00+02:00",
        "status": "completed",
        "context": {"environment": "python"},
        "metadata": {"quality_score": 92},
    }
    for key, value in overrides.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def write_lines(path: Path, lines: list[bytes | str | dict]) -> Path:
    data = b""
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        if isinstance(line, str):
            line = line.encode()
        data += line + b"\n"
    path.write_bytes(data)
    return path


def land_and_curate(workspace: Path, source: Path, instance) -> str:
    """Land a one-batch file, register its partition and run curation_job on it here."""
    from training_assets.definitions import build_definitions
    from training_assets.ingestion.landing import land_file
    from training_assets.partitions import batch_partitions

    landed, _ = land_file(source, workspace / "landing")
    instance.add_dynamic_partitions(batch_partitions.name, landed.keys)
    [key] = landed.keys
    result = (
        build_definitions(str(workspace))
        .resolve_job_def("curation_job")
        .execute_in_process(partition_key=key, instance=instance)
    )
    assert result.success
    return key


def partition_materializations(instance, asset: str, key: str) -> int:
    """How many times `asset`'s partition `key` has been materialized."""
    import dagster as dg

    return len(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]),
            limit=100,
        ).records
    )


def best_checkpoint_document(low: float, high: float, checkpoint="step-000020") -> dict:
    """A best_checkpoint document whose golden loss gain has the interval [low, high]."""
    return {
        "run_id": "run-1",
        "checkpoint": checkpoint,
        "path": f"/runs/run-1/checkpoints/{checkpoint}",
        "reference": "base",
        "comparison": {
            "confirmation": {
                "split": "golden",
                "verdict": "better" if low > 0 else "no clear difference",
                "interval": {
                    "estimate": (low + high) / 2,
                    "low": low,
                    "high": high,
                    "level": 0.95,
                    "examples": 64,
                },
            }
        },
    }


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "workspace"
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("TRAINING_WORKSPACE", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama with the real SmolLM2 tokenizer and chat
    template: the training code path in full, at a size that trains in seconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training_assets.base_model.locate import (
        BUNDLED_BASE_MODEL,
        load_tokenizer,
        locate_base_model,
    )

    # converted out of the bundled GGUF once per test session (~5 s), kept in pytest's tmp
    cache = tmp_path_factory.mktemp("tokenizer-cache")
    tokenizer = load_tokenizer(locate_base_model(BUNDLED_BASE_MODEL), cache)
    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder
