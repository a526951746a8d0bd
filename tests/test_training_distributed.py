"""Data-parallel training (training/distributed.py): two CPU processes on gloo, started by
torchrun, against one process with the same global batch; and resume under two
processes. The tiny Llama keeps it to seconds of training; torchrun, gloo, DDP and the
run folder are the real ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from tests.training_helpers import qa_spans, tiny_config
from training_assets.training.dataset import build_examples, dataset_table
from training_assets.training.distributed import Ranks, launch
from training_assets.training.run import train_lora, training_data
from training_assets.training.run_folder import RunFolder


def _table(model_dir: Path) -> pl.DataFrame:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    spans = qa_spans(120)
    examples, _ = build_examples(tokenizer, spans, 96, 0.15, 0.08)
    batches = pl.DataFrame({"id": [s["id"] for s in spans], "batch": ["batch-a"] * len(spans)})
    return dataset_table(examples, batches)


def _losses(run_dir: Path) -> list[float]:
    return [m["loss"] for m in RunFolder(run_dir).read_metrics() if "loss" in m]


# no dropout: its masks are drawn per process, so they could never match one process's
CONFIG = {"max_steps": 6, "checkpoint_every": 3, "lora_dropout": 0.0, "preview_prompts": 0}


def _two_processes(model_dir: Path, table: pl.DataFrame, runs: Path, scratch: Path, **extra):
    config = tiny_config(**CONFIG, batch_size=2, nproc=2, precision="fp32", **extra)
    lines: list[str] = []
    summary = launch(
        2,
        scratch,
        config.model_dump(),
        table,
        str(model_dir),
        scratch.parent / "cache",
        runs,
        "tiny",
        lines.append,
    )
    return summary, lines


def test_two_gloo_processes_follow_one_process_with_the_same_global_batch(
    tmp_path: Path, tiny_model_dir: Path
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    table = _table(tiny_model_dir)
    single = train_lora(
        runs_dir=tmp_path / "one",
        config=tiny_config(**CONFIG, batch_size=4, precision="fp32"),
        data=training_data(table, int(table["tokens"].max())),
        load_model=lambda: AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
        tokenizer=AutoTokenizer.from_pretrained(str(tiny_model_dir)),
        base_fingerprint="tiny",
        log=lambda message: None,
    )
    summary, lines = _two_processes(tiny_model_dir, table, tmp_path / "two", tmp_path / "scratch")
    assert any("data parallel on 2 processes: global batch 4" in line for line in lines), lines
    one, two = _losses(Path(single["run_dir"])), _losses(Path(summary["run_dir"]))
    assert len(one) == len(two) == 6
    assert one[-1] < one[0]  # it learns
    assert two == pytest.approx(one, rel=2e-3), (one, two)
    # rank 0 alone wrote the run: one config, both checkpoints, no rank's crash file
    run = RunFolder(Path(summary["run_dir"]))
    assert [c["checkpoint"] for c in summary["checkpoints"]] == ["step-000003", "step-000006"]
    assert not list(run.path.glob("crash*.json"))
    assert json.loads(run.config_file.read_text())["world_size"] == 2
    # the validation losses agree too (rank 0 evaluates the synced weights)
    assert summary["best_val_loss"] == pytest.approx(single["best_val_loss"], rel=2e-3)


def test_two_processes_resume_an_unfinished_run(tmp_path: Path, tiny_model_dir: Path):
    table = _table(tiny_model_dir)
    first, _ = _two_processes(tiny_model_dir, table, tmp_path / "runs", tmp_path / "s1")
    run = RunFolder(Path(first["run_dir"]))
    before = _losses(run.path)
    # as if killed after step 3: the last checkpoint and the summary gone
    shutil.rmtree(run.checkpoint("step-000006"))
    run.summary_file.unlink()
    again, lines = _two_processes(tiny_model_dir, table, tmp_path / "runs", tmp_path / "s2")
    assert again["run_id"] == first["run_id"]
    assert any("resuming" in line and "step 3/6" in line for line in lines), lines
    # steps 4–6 again, from the restored weights, optimizer and batch order
    assert _losses(run.path) == pytest.approx(before, rel=1e-4)
    assert again["best_val_loss"] == pytest.approx(first["best_val_loss"], rel=1e-5)


def test_a_single_process_is_rank_zero_of_one():
    ranks = Ranks()
    assert ranks.main and ranks.all_sum(3.5) == 3.5 and ranks.broadcast("x") == "x"
    assert Ranks(1, 2).shard([[1], [2], [3]]) == [[2]]
