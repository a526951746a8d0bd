"""preference_dataset (judged answers from the feedback store), preference_checkpoints
(a DPO or KTO run from the best SFT checkpoint) and preference_evals (the same golden
evaluation and gate as SFT checkpoints, against the SFT starting point, plus the held-out
preference margin with intervals). torch is imported inside the assets."""

from pathlib import Path

import dagster as dg
import polars as pl

from resources.base_model import BaseModelResource
from resources.embedder import EmbedderResource
from resources.feedback import FeedbackResource
from resources.workspace import WorkspaceResource
from training_assets.evaluation.paired import mean_delta, verdict
from training_assets.evaluation.selection import ComparisonRule, choose_best, model_scores
from training_assets.executors import gpu_step_tags
from training_assets.metadata import markdown_table
from training_assets.preference.config import PreferenceConfig
from training_assets.project_settings import section_setter
from training_assets.training.dataset import examples_fingerprint
from training_assets.training.run_folder import RunFolder

from_file = section_setter("preference")


class PreferenceDatasetConfig(dg.Config):
    max_seq_len: int = from_file("max_seq_len", 1024)
    heldout_fraction: float = from_file("heldout_fraction", 0.2)
    context_turns: int = from_file("context_turns", 2)


@dg.asset(
    group_name="preference",
    kinds={"sqlite", "parquet"},
    io_manager_key="parquet_io_manager",
    description="Every judged interaction of the feedback store as (prompt with its session's "
    "earlier turns, answer, desirable or not), rendered with the base chat template; "
    "deduplicated (majority label, ties dropped), split by prompt hash; pairs where one "
    "prompt has a good and a bad answer (training_assets/preference/dataset.py).",
)
def preference_dataset(
    context: dg.AssetExecutionContext,
    config: PreferenceDatasetConfig,
    feedback: FeedbackResource,
    base_model: BaseModelResource,
) -> dg.Output[pl.DataFrame]:
    from training_assets.preference.dataset import preference_table

    with feedback.open() as store:
        rows = list(store.rows())
    table, counts = preference_table(
        rows,
        base_model.tokenizer(),
        config.max_seq_len,
        config.heldout_fraction,
        config.context_turns,
    )
    return dg.Output(
        table,
        metadata={
            "interactions": counts.interactions,
            "examples": counts.examples,
            "desirable": counts.by_label["desirable"],
            "undesirable": counts.by_label["undesirable"],
            "no_judgement": counts.no_judgement,
            "duplicates": counts.duplicates,
            "conflicting": counts.conflicting,
            "too_long": counts.too_long,
            **{f"examples_{s}": counts.by_split[s] for s in ("train", "heldout")},
            **{f"pairs_{s}": counts.pairs[s] for s in ("train", "heldout")},
        },
    )


@dg.asset(
    group_name="preference",
    kinds={"pytorch", "json"},
    io_manager_key="json_io_manager",
    op_tags=gpu_step_tags(),
    description="One preference run from the best SFT checkpoint: DPO on pairs, KTO on "
    "unpaired judgements (method auto), reference log-probs cached once; checkpoints atomic, "
    "step-000000 the SFT start; an unfinished run resumes (training_assets/preference/run.py).",
)
def preference_checkpoints(
    context: dg.AssetExecutionContext,
    config: PreferenceConfig,
    base_model: BaseModelResource,
    workspace: WorkspaceResource,
    preference_dataset: pl.DataFrame,
    best_checkpoint: dict,
    training_dataset: pl.DataFrame,
) -> dg.Output[dict]:
    from training_assets.preference.run import PreferenceData, PreferenceDataError, train_preference
    from training_assets.training.config import TrainingConfigError
    from training_assets.training.run import example_set

    if not best_checkpoint.get("checkpoint"):
        raise dg.Failure("no SFT checkpoint to start from: best_checkpoint has none")
    start = Path(best_checkpoint["path"])
    validation = training_dataset.filter(pl.col("split") == "validation").sort("id")
    data = PreferenceData(
        preference_dataset,
        example_set(validation.head(config.max_eval_examples or validation.height).to_dicts()),
        # a label or split that changes is other data: the run must not resume on it
        examples_fingerprint(preference_dataset, ("id", "split", "prompt_tokens", "desirable")),
    )
    try:
        summary = train_preference(
            runs_dir=workspace.path / "runs",
            config=config,
            data=data,
            sft_run=RunFolder.of_checkpoint(start),
            sft_checkpoint=start,
            load_model=base_model.causal_lm,
            tokenizer=base_model.tokenizer(),
            log=context.log.info,
        )
    except (TrainingConfigError, PreferenceDataError) as error:
        raise dg.Failure(str(error)) from error
    first, last = summary["checkpoints"][0], summary["checkpoints"][-1]
    return dg.Output(
        summary,
        metadata={
            "run_id": summary["run_id"],
            "method": summary["method"],
            "steps": summary["steps"],
            "start_checkpoint": str(start),
            "heldout_pairs": summary["heldout_pairs"],
            "checkpoints": markdown_table(
                ["checkpoint", "held-out margin", "win rate", "val loss"],
                [
                    (
                        c["checkpoint"],
                        f"{c['heldout_margin']:+.4f}",
                        f"{c['heldout_win_rate']:.3f}",
                        f"{c['val_loss']:.4f}",
                    )
                    for c in summary["checkpoints"]
                ],
            ),
            "heldout_margin_before": first["heldout_margin"],
            "heldout_margin_after": last["heldout_margin"],
        },
    )


class PreferenceEvalsConfig(dg.Config):
    max_golden_examples: int = from_file("max_golden_examples", 64)
    max_new_tokens: int = from_file("max_new_tokens", 256)
    confidence_level: float = from_file("confidence_level", 0.95)


def margin_comparison(summary: dict, level: float) -> dict:
    """Per held-out pair, each checkpoint's per-token gap against the SFT start's, as a
    paired interval; the win rate before and after."""
    start = summary["checkpoints"][0]
    out = {}
    for checkpoint in summary["checkpoints"][1:]:
        if not checkpoint["heldout_gaps"]:
            continue
        interval = mean_delta(checkpoint["heldout_gaps"], start["heldout_gaps"], level)
        wins = mean_delta(
            [g > 0 for g in checkpoint["heldout_gaps"]],
            [g > 0 for g in start["heldout_gaps"]],
            level,
        )
        out[checkpoint["checkpoint"]] = {
            "margin_gain": interval.as_dict(),
            "margin_verdict": verdict(interval),
            "win_rate_before": start["heldout_win_rate"],
            "win_rate_after": checkpoint["heldout_win_rate"],
            "win_rate_gain": wins.as_dict(),
        }
    return out


@dg.asset(
    group_name="preference",
    kinds={"pytorch", "json"},
    io_manager_key="json_io_manager",
    op_tags=gpu_step_tags(),
    description="The preference run's checkpoints through the SFT evaluation (golden answers, "
    "losses, chrF, answer cosine, paired bootstrap intervals) against the SFT checkpoint they "
    "started from (step-000000), and the held-out preference margin per checkpoint with its "
    "interval; `best` is the checkpoint the SFT gate picks, or null.",
)
def preference_evals(
    context: dg.AssetExecutionContext,
    config: PreferenceEvalsConfig,
    base_model: BaseModelResource,
    embedder: EmbedderResource,
    workspace: WorkspaceResource,
    preference_checkpoints: dict,
    training_dataset: pl.DataFrame,
) -> dg.Output[dict]:
    from training_assets.evaluation.evaluate import BASE, DEPLOYED, evaluate_run

    encoder = embedder.get()
    table, golden = evaluate_run(
        Path(preference_checkpoints["run_dir"]),
        preference_checkpoints["run_id"],
        training_dataset,
        base_model,
        workspace.path,
        config.max_golden_examples,
        config.max_new_tokens,
        context.log.info,
        lambda texts: encoder.encode(texts)[0],
    )
    scores = model_scores(table)
    for name in (BASE, DEPLOYED):
        scores.pop(name, None)
    start = scores.pop("step-000000")
    rule = ComparisonRule(level=config.confidence_level)
    selection = choose_best(table, list(scores.values()), start, rule)
    margins = margin_comparison(preference_checkpoints, config.confidence_level)
    record = {
        "run_id": preference_checkpoints["run_id"],
        "method": preference_checkpoints["method"],
        "reference": "step-000000",
        "start_checkpoint": preference_checkpoints["start_checkpoint"],
        "best": selection.best.model if selection.best else None,
        "verdicts": selection.verdicts,
        "comparisons": {name: c.as_dict() for name, c in selection.comparisons.items()},
        "margins": margins,
        "golden_examples": golden,
    }
    rows = []
    for name, comparison in selection.comparisons.items():
        gain = comparison.golden_loss_gain
        chrf = comparison.golden.get("chrf")
        margin = margins.get(name, {})
        rows.append(
            (
                name,
                gain.text(4) if gain else "—",
                chrf.text(2) if chrf else "—",
                margin["margin_gain"]
                and f"{margin['margin_gain']['estimate']:+.4f} [{margin['margin_gain']['low']:+.4f}, {margin['margin_gain']['high']:+.4f}]"
                if margin
                else "—",
                f"{margin['win_rate_before']:.3f} → {margin['win_rate_after']:.3f}"
                if margin
                else "—",
                selection.verdicts[name],
            )
        )
    return dg.Output(
        record,
        metadata={
            "best": record["best"] or "none",
            "comparison": markdown_table(
                [
                    "checkpoint",
                    "golden loss gain",
                    "chrF Δ",
                    "held-out margin gain",
                    "win rate",
                    "verdict",
                ],
                rows,
            ),
        },
    )
