"""checkpoint_evals (every checkpoint of the run and the base model, per example) and
best_checkpoint (the rule in training_assets/evaluation/selection.py, on the paired
intervals of paired.py), with its two asset checks.

torch-based helpers are imported inside the assets, here as in training/ and deploy/: loading
the code location (and every step process of the curation job) then never pays for torch.
"""

from pathlib import Path

import dagster as dg
import polars as pl

from resources.base_model import BaseModelResource
from resources.embedder import EmbedderResource
from resources.tracking import ExperimentTrackerResource
from resources.workspace import WorkspaceResource
from training_assets.evaluation.evaluate import BASE, DEPLOYED, evaluate_run
from training_assets.evaluation.judge import Judge
from training_assets.evaluation.paired import verdict
from training_assets.evaluation.plots import paired_deltas_png
from training_assets.evaluation.selection import (
    GOLDEN_METRICS,
    ComparisonRule,
    Selection,
    choose_best,
    model_scores,
    paired_rows,
)
from training_assets.executors import gpu_step_tags
from training_assets.metadata import markdown_table, png_markdown
from training_assets.project_settings import section_setter
from training_assets.training.run_folder import RunFolder

from_file = section_setter("evaluation")  # defaults: the settings file, else these


class CheckpointEvalsConfig(dg.Config):
    max_golden_examples: int = from_file("max_golden_examples", 64)
    # the most new tokens of a golden answer; each answer's own budget fits its reference
    max_new_tokens: int = from_file("max_new_tokens", 256)
    # an OpenAI-compatible endpoint (llama.cpp's server, vLLM, Ollama) that grades each
    # golden answer against its reference (prompts/judge.md); empty: no judge
    judge_url: str = from_file("judge_url", "")
    judge_model: str = from_file("judge_model", "")


def _fmt(value: float, spec: str) -> str:
    return "—" if value != value else format(value, spec)  # nan: not measured


@dg.asset(
    group_name="evaluation",
    kinds={"pytorch", "parquet"},
    io_manager_key="parquet_io_manager",
    op_tags=gpu_step_tags(),
    description="Per-example results of the base model and every checkpoint of the latest run: "
    "validation and golden answer loss, and greedy golden answers (each to a budget that fits "
    "its reference) scored with chrF, token F1, the answer's cosine to the reference under the "
    "embedding model, and whether the model ended its turn.",
)
def checkpoint_evals(
    context: dg.AssetExecutionContext,
    config: CheckpointEvalsConfig,
    base_model: BaseModelResource,
    embedder: EmbedderResource,
    workspace: WorkspaceResource,
    experiment_tracker: ExperimentTrackerResource,
    lora_checkpoints: dict,
    training_dataset: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    encoder = embedder.get()

    def embed(texts: list[str]):
        return encoder.encode(texts)[0]

    table, golden_examples = evaluate_run(
        Path(lora_checkpoints["run_dir"]),
        lora_checkpoints["run_id"],
        training_dataset,
        base_model,
        workspace.path,
        config.max_golden_examples,
        config.max_new_tokens,
        context.log.info,
        embed,
        Judge(config.judge_url, config.judge_model) if config.judge_url else None,
    )
    scores = model_scores(table)
    tracker = experiment_tracker.get()
    if tracker:
        from training_assets.tracking import log_checkpoint_scores

        log_checkpoint_scores(tracker, lora_checkpoints["run_id"], scores)
    return dg.Output(
        table,
        metadata={
            "run_id": lora_checkpoints["run_id"],
            "models": len(scores),
            "golden_examples": golden_examples,
            "scores": markdown_table(
                [
                    "model",
                    "val loss",
                    "golden loss",
                    "chrF",
                    "token F1",
                    "answer cosine",
                    "stop rate",
                ],
                [
                    (
                        s.model,
                        _fmt(s.val_loss, ".4f"),
                        _fmt(s.golden_loss, ".4f"),
                        _fmt(s.golden_chrf, ".2f"),
                        _fmt(s.golden_token_f1, ".3f"),
                        _fmt(s.golden_answer_cosine, ".3f"),
                        _fmt(s.stop_rate, ".2f"),
                    )
                    for s in scores.values()
                ],
            ),
        },
    )


class BestCheckpointConfig(dg.Config):
    confidence_level: float = from_file("confidence_level", 0.95)
    bootstrap_resamples: int = from_file("bootstrap_resamples", 2000)
    # a golden regression smaller than these (the metric's own unit) does not count
    chrf_tolerance: float = from_file("chrf_tolerance", 0.0)
    token_f1_tolerance: float = from_file("token_f1_tolerance", 0.0)
    answer_cosine_tolerance: float = from_file("answer_cosine_tolerance", 0.0)
    judge_score_tolerance: float = from_file("judge_score_tolerance", 0.0)
    stop_tolerance: float = from_file("stop_tolerance", 0.0)

    def rule(self) -> ComparisonRule:
        return ComparisonRule(
            level=self.confidence_level,
            resamples=self.bootstrap_resamples,
            tolerances={
                "chrf": self.chrf_tolerance,
                "token_f1": self.token_f1_tolerance,
                "answer_cosine": self.answer_cosine_tolerance,
                "judge_score": self.judge_score_tolerance,
                "stop_rate": self.stop_tolerance,
            },
        )


def _register_best(experiment_tracker, record: dict, dagster_run_id: str) -> str | None:
    """The best checkpoint as a version of `<name>-lora` in MLflow's registry (alias `best`)."""
    tracker = experiment_tracker.get()
    if tracker is None:
        return None
    confirmation = record["comparison"]["confirmation"]
    interval = confirmation.get("interval") or {}
    return tracker.register(
        experiment_tracker.model_name("lora"),
        record["path"],
        record["run_id"],
        {
            "training_run": record["run_id"],
            "checkpoint": record["checkpoint"],
            "dagster.run_id": dagster_run_id,
            "reference": record["reference"],
            "verdict": confirmation.get("verdict"),
            "golden_loss_gain_low": interval.get("low"),
            "golden_loss_gain_high": interval.get("high"),
            "batches": ",".join(record["batches"]),
        },
        alias="best",
    )


def _comparison_table(selection: Selection) -> str:
    rows = []
    for name, c in selection.comparisons.items():
        gains = [c.validation_loss_gain, c.golden_loss_gain]
        golden = [c.golden.get(metric) for metric in GOLDEN_METRICS]
        rows.append(
            (
                name,
                *(i.text(4) if i else "—" for i in gains),
                *(i.text(3) if i else "—" for i in golden),
                selection.verdicts[name],
            )
        )
    return markdown_table(
        [
            "model",
            "val loss gain",
            "golden loss gain",
            *(f"{label} Δ" for _, label in GOLDEN_METRICS.values()),
            "verdict",
        ],
        rows,
    )


def _delta_plots(evals: pl.DataFrame, selection: Selection, candidate: str) -> dict:
    reference = selection.reference.model
    comparison = selection.comparisons[candidate]
    pairs = paired_rows(evals, "golden", candidate, reference)
    plots = {}
    if comparison.golden_loss_gain is not None:
        gains = (
            (pairs["loss_sum_ref"] - pairs["loss_sum"]) / pairs["tokens"].clip(lower_bound=1)
        ).to_list()
        plots["golden_loss_gain_per_example"] = png_markdown(
            paired_deltas_png(
                gains,
                comparison.golden_loss_gain,
                "loss gain (nats/token)",
                f"{candidate} against {reference}: golden answer loss",
            ),
            "golden loss gain per example",
        )
    for metric in ("chrf", "answer_cosine"):
        interval = comparison.golden.get(metric)
        column, label = GOLDEN_METRICS[metric]
        if interval is None:
            continue
        deltas = (pairs[column] - pairs[f"{column}_ref"]).drop_nulls().to_list()
        plots[f"golden_{metric}_delta_per_example"] = png_markdown(
            paired_deltas_png(
                deltas, interval, f"{label} Δ", f"{candidate} against {reference}: {label}"
            ),
            f"{label} delta per example",
        )
    return plots


@dg.asset(
    group_name="evaluation",
    kinds={"json"},
    io_manager_key="json_io_manager",
    check_specs=[
        dg.AssetCheckSpec(
            "no_golden_regression",
            asset="best_checkpoint",
            description="Some checkpoint of the run does not regress on any golden metric "
            "against the reference (no interval wholly below 0 − tolerance).",
        ),
        dg.AssetCheckSpec(
            "better_than_reference",
            asset="best_checkpoint",
            description="The best checkpoint's answer-loss gain over the reference, measured "
            "on the golden examples (which played no part in choosing it), has an interval "
            "above 0: what best_checkpoint_sensor deploys on.",
        ),
    ],
    description="The checkpoint with the lowest validation loss among those that do not regress "
    "on the golden set against the deployed model (the base model before any deploy), each "
    "judged on paired bootstrap intervals; `checkpoint` is null when every one regresses, "
    "`comparison.confirmation` says whether it is better.",
)
def best_checkpoint(
    context: dg.AssetExecutionContext,
    config: BestCheckpointConfig,
    experiment_tracker: ExperimentTrackerResource,
    lora_checkpoints: dict,
    checkpoint_evals: pl.DataFrame,
):
    scores = model_scores(checkpoint_evals)
    base = scores.pop(BASE)
    reference = scores.pop(DEPLOYED, None) or base
    rule = config.rule()
    selection = choose_best(checkpoint_evals, list(scores.values()), reference, rule)
    best = selection.best
    comparison = selection.comparisons[best.model].as_dict() if best else None
    record = {
        "run_id": lora_checkpoints["run_id"],
        "checkpoint": best.model if best else None,
        "path": str(RunFolder(Path(lora_checkpoints["run_dir"])).checkpoint(best.model))
        if best
        else None,
        "val_loss": best.val_loss if best else None,
        "scores": {
            name: vars(score)
            for name, score in {**scores, BASE: base, reference.model: reference}.items()
        },
        "batches": lora_checkpoints.get("batches", []),
        "golden_prompt": lora_checkpoints.get("golden_prompt"),
        "reference": reference.model,
        "verdicts": selection.verdicts,
        "comparison": comparison,
        "comparisons": {name: c.as_dict() for name, c in selection.comparisons.items()},
        "rule": {
            "confidence_level": rule.level,
            "bootstrap_resamples": rule.resamples,
            "tolerances": rule.tolerances,
        },
    }
    if best is None:
        context.log.warning("every checkpoint regresses on the golden set: no best checkpoint")
    else:
        record["mlflow_version"] = _register_best(experiment_tracker, record, context.run_id)
    shown = best.model if best else min(scores.values(), key=lambda s: s.val_loss).model
    confirmation = comparison["confirmation"] if comparison else None
    yield dg.Output(
        record,
        metadata={
            "checkpoint": record["checkpoint"] or "none",
            "val_loss": best.val_loss if best else float("nan"),
            "reference": reference.model,
            "confidence_level": rule.level,
            "confirmed_better": bool(confirmation and confirmation["verdict"] == "better"),
            "comparison": _comparison_table(selection),
            **_delta_plots(checkpoint_evals, selection, shown),
        },
    )
    yield dg.AssetCheckResult(
        check_name="no_golden_regression",
        passed=best is not None,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"verdicts": markdown_table(["model", "verdict"], selection.verdicts.items())},
    )
    interval = selection.comparisons[shown].confirmation()[1]
    yield dg.AssetCheckResult(
        check_name="better_than_reference",
        passed=best is not None and interval is not None and verdict(interval) == "better",
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "candidate": shown,
            "reference": reference.model,
            "split": selection.comparisons[shown].confirmation()[0],
            "loss_gain": interval.text(4) if interval else "not measured",
            "low": interval.low if interval else float("nan"),
            "high": interval.high if interval else float("nan"),
        },
    )
