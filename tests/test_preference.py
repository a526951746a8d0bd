"""The preference stage (issue 21): preference examples from feedback rows, the DPO and
KTO losses, and a preference run on the tiny model from an SFT checkpoint: the held-out
margin moves the right way, the reference log-probs are cached, a run resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import torch

from tests.training_helpers import TOPICS, run_tiny
from training_assets.preference.config import PreferenceConfig
from training_assets.preference.dataset import label, preference_pairs, preference_table
from training_assets.preference.losses import dpo_loss, kto_loss
from training_assets.preference.run import PreferenceData, train_preference
from training_assets.training.run import example_set
from training_assets.training.run_folder import RunFolder


def _row(i: int, query: str, response: str, feedback: str, score=None, session=None) -> dict:
    return {
        "id": i,
        "created_at": f"2026-12-01T00:{i // 60:02d}:{i % 60:02d}Z",
        "session": session,
        "query": query,
        "response": response,
        "feedback": feedback,
        "score": score,
    }


def feedback_rows(prompts: int = 40) -> list[dict]:
    """Each prompt answered well (positive) and badly (negative): DPO pairs."""
    rows = []
    for p in range(prompts):
        topic = TOPICS[p % len(TOPICS)]
        query = f"How do I use {topic} in Python, question {p}?"
        rows.append(
            _row(2 * p, query, f"Use {topic} like this: see the {topic} chapter.", "positive", 5)
        )
        rows.append(_row(2 * p + 1, query, "No idea, sorry.", "negative", 0))
    return rows


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_labels_threads_duplicates_conflicts_and_pairs(tokenizer):
    assert label({"feedback": "positive", "score": 4}) is True
    assert label({"feedback": "positive", "score": 1}) is None  # the score contradicts it
    assert label({"feedback": "negative", "score": None}) is False
    assert label({"feedback": "neutral", "score": 3}) is None
    rows = [
        _row(1, "Hi", "Hello!", "positive", 5, session="s"),
        _row(2, "And lists?", "Use append.", "positive", 4, session="s"),
        _row(4, "Sets?", "Use set().", "positive", 4),
        _row(5, "Sets?", "Use set().", "negative", 1),  # one up, one down: conflicting
        _row(6, "Sets?", "Sets are lists.", "negative", 0),
        _row(7, "Tuples?", "Parentheses.", "neutral", 3),
        _row(3, "And lists?", "Lists are sets.", "negative", 0, session="s"),  # regenerated
        _row(8, "Dicts?", "Use {}.", "positive", 5),
        _row(9, "Dicts?", "Use {}.", "positive", 4),  # the same answer judged again
    ]
    table, counts = preference_table(rows, tokenizer, 256, heldout_fraction=0.0)
    assert (counts.interactions, counts.no_judgement, counts.duplicates) == (9, 1, 2)
    assert counts.conflicting == 1 and counts.examples == 5
    # the session's earlier turn is the thread of the second question
    answer = table.filter(table["messages"].list.last().struct.field("content") == "Use append.")
    contents = [m["content"] for m in answer["messages"][0]]
    assert contents == ["Hi", "Hello!", "And lists?", "Use append."]
    dicts = table.filter(table["messages"].list.last().struct.field("content") == "Use {}.")
    assert dicts["feedback_ids"][0].to_list() == [8, 9]
    # the regenerated answer shares the prompt of the first: one pair. "Sets?" was
    # answered well once and badly once, but its good answer is the conflicting one
    [(chosen, rejected)] = preference_pairs(table)["train"]
    assert table["messages"][rejected][-1]["content"] == "Lists are sets."
    assert table["messages"][chosen][-1]["content"] == "Use append."
    assert len(table["messages"][rejected]) == 4  # Hi / Hello! / And lists? / the answer
    paired, paired_counts = preference_table(feedback_rows(30), tokenizer, 256, 0.3)
    assert paired_counts.pairs["train"] + paired_counts.pairs.get("heldout", 0) == 30
    by_prompt = paired.group_by("prompt_key").agg(pl.col("split").n_unique().alias("sides"))
    assert by_prompt["sides"].max() == 1


def test_losses_prefer_what_they_should():
    chosen = torch.tensor([-5.0], requires_grad=True)
    rejected = torch.tensor([-5.0], requires_grad=True)
    loss, _, _ = dpo_loss(chosen, rejected, torch.tensor([-5.0]), torch.tensor([-5.0]), 0.1)
    assert float(loss) == pytest.approx(-torch.nn.functional.logsigmoid(torch.tensor(0.0)).item())
    loss.backward()
    assert chosen.grad.item() < 0 < rejected.grad.item()  # raise chosen, lower rejected
    policy = torch.tensor([-4.0, -4.0], requires_grad=True)
    loss, rewards, z0 = kto_loss(
        policy,
        torch.tensor([-5.0, -5.0]),
        torch.tensor([True, False]),
        torch.tensor([-6.0]),
        torch.tensor([-6.0]),
        beta=0.5,
    )
    loss.backward()
    assert z0.item() == 0 and rewards.tolist() == [0.5, 0.5]
    assert policy.grad[0] < 0 < policy.grad[1]  # desirable up, undesirable down


def test_dpo_run_widens_the_heldout_margin_and_resumes(
    tmp_path: Path, tiny_model_dir: Path, tokenizer
):
    from transformers import AutoModelForCausalLM

    sft = run_tiny(tiny_model_dir, tmp_path / "runs")
    sft_run = RunFolder(Path(sft["run_dir"]))
    start = sft_run.checkpoint(sft["best_checkpoint"])
    table, counts = preference_table(feedback_rows(40), tokenizer, 96, heldout_fraction=0.25)
    assert counts.pairs["heldout"] > 0
    validation = json.loads(sft_run.base_eval_file.read_text())["examples"]
    assert validation  # the SFT validation subset the gate reads
    data = PreferenceData(table, example_set([]), "feedback40")
    config = PreferenceConfig(
        max_steps=12, checkpoint_every=6, batch_size=4, learning_rate=5e-3, beta=0.5, min_pairs=4
    )

    def train():
        return train_preference(
            runs_dir=tmp_path / "runs",
            config=config,
            data=data,
            sft_run=sft_run,
            sft_checkpoint=start,
            load_model=lambda: AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)),
            tokenizer=tokenizer,
            log=lambda message: None,
        )

    summary = train()
    assert summary["method"] == "dpo"
    steps = [c["step"] for c in summary["checkpoints"]]
    assert steps == [0, 6, 12]
    before, after = summary["checkpoints"][0], summary["checkpoints"][-1]
    assert after["heldout_margin"] > before["heldout_margin"]
    assert after["heldout_win_rate"] >= before["heldout_win_rate"]
    run = RunFolder(Path(summary["run_dir"]))
    assert (run.path / "reference_logps.json").exists()
    losses = [m["loss"] for m in run.read_metrics() if "loss" in m]
    assert losses[-1] < losses[0]

    # killed after step 6: the same run resumes and ends where it ended
    shutil.rmtree(run.checkpoint("step-000012"))
    run.summary_file.unlink()
    again = train()
    assert again["run_id"] == summary["run_id"]
    assert again["checkpoints"][-1]["heldout_margin"] == pytest.approx(
        after["heldout_margin"], rel=1e-4
    )


def test_preference_job_end_to_end_from_recorded_feedback(workspace: Path, tiny_model_dir: Path):
    """Feedback recorded through the CLI's bulk path → preference_job on the tiny model
    after a training run: the dataset's counts, a DPO run from the best SFT checkpoint,
    its checkpoints through the golden gate against the SFT start, margins with intervals."""
    import dagster as dg

    from resources.base_model import BaseModelResource
    from tests.test_training_assets import _write_diamonds_plus
    from tests.training_helpers import qa_spans
    from training_assets.definitions import build_definitions
    from training_assets.feedback.store import FeedbackStore, Interaction
    from training_assets.partitions import batch_partitions

    instance = dg.DagsterInstance.get()
    _write_diamonds_plus(workspace, "batch-a", qa_spans(120))
    instance.add_dynamic_partitions(batch_partitions.name, ["batch-a"])
    defs = build_definitions(str(workspace))
    tiny = BaseModelResource(model=str(tiny_model_dir), cache_dir=str(workspace / "models"))
    training = {
        "training_dataset": {"config": {"max_seq_len": 96, "golden_min_examples": 6}},
        "lora_checkpoints": {
            "config": {"max_steps": 4, "checkpoint_every": 2, "learning_rate": 0.02}
        },
        "checkpoint_evals": {"config": {"max_golden_examples": 6, "max_new_tokens": 8}},
        "best_checkpoint": {"config": {"chrf_tolerance": 100.0, "stop_tolerance": 1.0}},
    }
    assert (
        defs.resolve_job_def("training_job")
        .execute_in_process(
            run_config={"ops": training}, instance=instance, resources={"base_model": tiny}
        )
        .success
    )
    with FeedbackStore.open(workspace / "feedback.db", create=True) as store:
        store.record_all([Interaction(**row, model_version="v1") for row in _interactions(40)])
    preference = {
        "preference_dataset": {"config": {"max_seq_len": 96, "heldout_fraction": 0.25}},
        "preference_checkpoints": {
            "config": {
                "max_steps": 6,
                "checkpoint_every": 3,
                "learning_rate": 5e-3,
                "beta": 0.5,
                "min_pairs": 4,
            }
        },
        "preference_evals": {"config": {"max_golden_examples": 6, "max_new_tokens": 8}},
    }
    result = defs.resolve_job_def("preference_job").execute_in_process(
        run_config={"ops": preference}, instance=instance, resources={"base_model": tiny}
    )
    assert result.success
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("preference_dataset")
    ).asset_materialization.metadata
    assert meta["interactions"].value == 80 and meta["examples"].value == 80
    assert meta["pairs_train"].value + meta["pairs_heldout"].value == 40
    summary = json.loads((workspace / "preference_checkpoints.json").read_text())
    best = json.loads((workspace / "best_checkpoint.json").read_text())
    assert summary["method"] == "dpo" and summary["start_checkpoint"] == best["path"]
    assert summary["last_feedback_id"] == 80
    evals = json.loads((workspace / "preference_evals.json").read_text())
    assert evals["reference"] == "step-000000"
    assert set(evals["verdicts"]) == {"step-000003", "step-000006"}
    margin = evals["margins"]["step-000006"]
    assert (
        margin["margin_gain"]["low"]
        <= margin["margin_gain"]["estimate"]
        <= margin["margin_gain"]["high"]
    )
    golden = evals["comparisons"]["step-000006"]["golden_loss_gain"]
    assert golden["examples"] == 6
    # the run is kin to SFT runs on disk: the low-data sensor's counts read it
    from training_assets.feedback.freshness import new_negative_feedback

    with FeedbackStore.open(workspace / "feedback.db") as store:
        assert new_negative_feedback(store, workspace / "runs") == (0, 80)


def _interactions(prompts: int) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "id"} for row in feedback_rows(prompts)]


def test_cli_records_a_file_all_or_none_and_reports_preference_readiness(
    workspace: Path, tmp_path: Path
):
    import os

    from tests.test_cli import run_cli

    lines = [json.dumps({**row, "model_version": "v1"}) for row in _interactions(3)]
    source = tmp_path / "feedback.jsonl"
    source.write_text(
        "\n".join([*lines[:2], '{"query": "q", "feedback": "great"}', *lines[2:]]) + "\n"
    )
    env = dict(os.environ)
    bad = run_cli(["feedback", "record", "--create", "--from-jsonl", str(source)], tmp_path, env)
    assert bad.returncode == 2 and "feedback.jsonl:3:" in bad.stderr
    assert "nothing recorded: 1 bad line(s) of 7" in bad.stderr
    source.write_text("\n".join(lines) + "\n")
    good = run_cli(["feedback", "record", "--from-jsonl", str(source)], tmp_path, env)
    assert good.returncode == 0 and good.stdout.split() == [str(i) for i in range(1, 7)]
    ready = json.loads(run_cli(["feedback", "preferences"], tmp_path, env).stdout)
    assert ready["judged"] == {"positive": 3, "negative": 3, "neutral": 0}
    assert ready["new_negative"] == 3 and ready["preference_run_due"] is False
