"""Evaluate one LoRA run: the base model, every checkpoint of the run and the model
deployed now (when it is not one of them), each on the run's validation examples (answer
loss, per example) and on the golden set (answer loss, and greedy answers scored with
chrF, token F1, the cosine of answer and reference under the project's embedding model,
and whether the model ended its turn). Each golden answer's budget fits its reference
(`answer_budgets`). Pure of Dagster: `checkpoint_evals` calls it; the per-example rows
are what `selection.py` compares pairwise.

torch and peft are imported inside the function: loading the code location (and every
curation step process) then never pays for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from training_assets.documents import read_document
from training_assets.metadata import rate_line
from training_assets.training.run_folder import RunFolder

BASE = "base"
DEPLOYED = "deployed"
# Explicit, so that a column with no value yet (no golden set on small data) keeps its type.
EVAL_SCHEMA = {
    "model": pl.String,
    "step": pl.Int64,
    "split": pl.String,
    "example_id": pl.String,
    "loss_sum": pl.Float64,
    "tokens": pl.Int64,
    "generation": pl.String,
    "chrf": pl.Float64,
    "token_f1": pl.Float64,
    "answer_cosine": pl.Float64,
    "judge_score": pl.Float64,  # 1–10 from the optional judge (judge.py); null when off
    "stopped": pl.Boolean,
    "expected_stop": pl.Boolean,
    "budget": pl.Int64,
}


def deployed_checkpoint(root: Path, run_checkpoints: list[Path]) -> Path | None:
    """The adapter of the model deployed now, when it is not one of this run's checkpoints."""
    deployed = read_document(root, "deployed_model")
    if deployed is None:
        return None
    folder = Path(deployed["checkpoint_path"])
    if not (folder / "adapter_model.safetensors").exists():
        return None
    if any(folder.resolve() == c.resolve() for c in run_checkpoints):
        return None
    return folder


def _golden_rows(
    model_name: str, step: int, golden, answers, losses, budgets, answer_tokens, cosines, grades
) -> list[dict]:
    from training_assets.evaluation.measures import chrf, token_f1

    return [
        {
            "model": model_name,
            "step": step,
            "split": "golden",
            "example_id": example_id,
            "loss_sum": loss.loss_sum,
            "tokens": loss.tokens,
            "generation": answer.text,
            "chrf": chrf(answer.text, reference),
            "token_f1": token_f1(answer.text, reference),
            "answer_cosine": cosine,
            "judge_score": None if grade is None else float(grade),
            "stopped": answer.stopped,
            "expected_stop": expected <= budget,
            "budget": budget,
        }
        for example_id, reference, answer, loss, budget, expected, cosine, grade in zip(
            golden.ids,
            golden.answers,
            answers,
            losses,
            budgets,
            answer_tokens,
            cosines,
            grades,
            strict=True,
        )
    ]


def answer_cosines(embed, answers, reference_vectors) -> list[float | None]:
    """Cosine of each answer and its reference (unit vectors from `embed`)."""
    if embed is None or reference_vectors is None or not answers:
        return [None] * len(answers)
    vectors = embed([a.text for a in answers])
    return [float(v) for v in (vectors * reference_vectors).sum(axis=1)]


def _validation_rows(model_name: str, step: int, examples: list[dict]) -> list[dict]:
    return [
        {
            "model": model_name,
            "step": step,
            "split": "validation",
            "example_id": item["id"],
            "loss_sum": item["loss_sum"],
            "tokens": item["tokens"],
            "generation": None,
            "chrf": None,
            "token_f1": None,
            "answer_cosine": None,
            "judge_score": None,
            "stopped": None,
            "expected_stop": None,
            "budget": None,
        }
        for item in examples
    ]


def evaluate_run(
    run_dir: Path,
    run_id: str,
    training_dataset: pl.DataFrame,
    base_model,
    workspace_root: Path,
    max_golden_examples: int,
    max_new_tokens: int,
    log: Callable[[str], None] = lambda message: None,
    embed: Callable[[list[str]], object] | None = None,
    judge=None,
) -> tuple[pl.DataFrame, int]:
    """Per-example rows (EVAL_SCHEMA + run_id) of every model, and the golden set's size.
    `base_model` is a BaseModelResource (its tokenizer and causal LM); `embed` turns texts
    into unit vectors (the project's embedding model) for the answer cosine; `judge`, a
    `judge.Judge` or None, grades each golden answer against its reference."""

    from peft import PeftModel

    from training_assets.lm.generation import answer_budgets, generate_answers, pad_token_id
    from training_assets.lm.hardware import autocast_for
    from training_assets.lm.losses import example_losses
    from training_assets.training.checkpoints import completed_checkpoints, read_state
    from training_assets.training.config import resolve_hardware
    from training_assets.training.run import example_set

    started = time.perf_counter()
    golden_table = (
        training_dataset.filter(pl.col("split") == "golden").sort("id").head(max_golden_examples)
    )
    golden = example_set(golden_table.to_dicts())
    answer_tokens = (golden_table["tokens"] - golden_table["prompt_tokens"]).to_list()
    budgets = answer_budgets(answer_tokens, max_new_tokens)
    conversations = [m[:-1] for m in golden_table["messages"].to_list()] if judge else []
    reference_vectors = embed(list(golden.answers)) if embed is not None and golden.ids else None
    tokenizer = base_model.tokenizer()
    run = RunFolder(run_dir)
    run_config = run.read_config()["config"]
    hardware = resolve_hardware(run_config["device"], run_config["precision"])
    device = hardware.device
    checkpoints = completed_checkpoints(run.checkpoints_dir)
    model = PeftModel.from_pretrained(
        base_model.causal_lm(), str(checkpoints[0]), adapter_name=checkpoints[0].name
    ).to(device)
    pad_id = pad_token_id(tokenizer)

    def golden_rows(name: str, step: int) -> list[dict]:
        # under the run's autocast (bf16 on CPUs with bf16 units), as training evaluated
        with autocast_for(device, hardware.autocast_dtype):
            answers = generate_answers(
                model, tokenizer, golden.prompts(), budgets, device, batch_size=16
            )
        losses = example_losses(
            model,
            golden.ids,
            golden.input_ids,
            golden.prompt_tokens,
            pad_id,
            device,
            hardware.autocast_dtype,
        )
        cosines = answer_cosines(embed, answers, reference_vectors)
        grades = (
            judge.grade_all(conversations, golden.answers, [a.text for a in answers])
            if judge is not None
            else [None] * len(answers)
        )
        return _golden_rows(
            name, step, golden, answers, losses, budgets, answer_tokens, cosines, grades
        )

    rows = _validation_rows(BASE, 0, run.read_base_eval()["examples"])
    with model.disable_adapter():
        rows += golden_rows(BASE, 0)
    adapters = [(c.name, c, read_state(c)) for c in checkpoints]
    deployed = deployed_checkpoint(workspace_root, checkpoints)
    if deployed is not None:
        adapters.append((DEPLOYED, deployed, None))
    total = 1 + len(adapters)
    log(
        rate_line(
            f"models evaluated (base: {len(golden.ids)} golden answers)",
            1,
            total,
            time.perf_counter() - started,
        )
    )
    for done, (name, folder, state) in enumerate(adapters, start=2):
        if name not in model.peft_config:
            model.load_adapter(str(folder), adapter_name=name)
        model.set_adapter(name)
        if state is None:  # the deployed model: score it on the run's validation subset
            validation = training_dataset.filter(pl.col("split") == "validation").sort("id")
            subset = example_set(
                validation.head(run_config["max_eval_examples"] or validation.height).to_dicts()
            )
            losses = example_losses(
                model,
                subset.ids,
                subset.input_ids,
                subset.prompt_tokens,
                pad_id,
                device,
                hardware.autocast_dtype,
            )
            state = {"step": -1, "val_examples": [vars(x) for x in losses]}
        rows += _validation_rows(name, state["step"], state["val_examples"])
        rows += golden_rows(name, state["step"])
        log(
            rate_line(
                f"models evaluated ({name}: {len(golden.ids)} golden answers)",
                done,
                total,
                time.perf_counter() - started,
            )
        )
    table = pl.DataFrame(rows, schema=EVAL_SCHEMA).with_columns(pl.lit(run_id).alias("run_id"))
    return table, len(golden.ids)
