"""The rule that picks the best checkpoint.

A checkpoint *regresses* on the golden set when its mean chrF is more than
`chrf_tolerance` points below the reference model's, or its stop rate (answers that end
with the end-of-turn token, among references short enough to end within the budget) is
more than `stop_tolerance` below the reference's. The reference is the model currently
deployed; before any deploy, the base model. Among checkpoints that do not regress,
the lowest validation loss wins, the earlier step on a tie. When every checkpoint
regresses there is no best checkpoint and nothing should be deployed.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ModelScore:
    model: str  # "base" or a checkpoint name (step-000040)
    step: int
    val_loss: float
    golden_chrf: float
    golden_token_f1: float
    stop_rate: float


@dataclass(frozen=True)
class Selection:
    best: ModelScore | None
    reference: ModelScore
    verdicts: dict[str, str]


def regression(
    candidate: ModelScore, reference: ModelScore, chrf_tolerance: float, stop_tolerance: float
) -> str | None:
    if candidate.golden_chrf < reference.golden_chrf - chrf_tolerance:
        return f"golden chrF {candidate.golden_chrf:.2f} < {reference.model}'s {reference.golden_chrf:.2f} − {chrf_tolerance}"
    if candidate.stop_rate < reference.stop_rate - stop_tolerance:
        return f"stop rate {candidate.stop_rate:.2f} < {reference.model}'s {reference.stop_rate:.2f} − {stop_tolerance}"
    return None


def choose_best(
    candidates: list[ModelScore],
    reference: ModelScore,
    chrf_tolerance: float = 1.0,
    stop_tolerance: float = 0.1,
) -> Selection:
    verdicts, eligible = {}, []
    for candidate in candidates:
        problem = regression(candidate, reference, chrf_tolerance, stop_tolerance)
        verdicts[candidate.model] = f"regresses: {problem}" if problem else "eligible"
        if problem is None:
            eligible.append(candidate)
    best = min(eligible, key=lambda c: (c.val_loss, c.step), default=None)
    if best is not None:
        verdicts[best.model] = "best: lowest validation loss among the eligible"
    return Selection(best, reference, verdicts)


def model_scores(evals: pl.DataFrame) -> dict[str, ModelScore]:
    """Per-model aggregates of the per-example `checkpoint_evals` table."""
    scores = {}
    for (model,), rows in evals.group_by("model", maintain_order=True):
        validation = rows.filter(pl.col("split") == "validation")
        golden = rows.filter(pl.col("split") == "golden")
        expected = golden.filter(pl.col("expected_stop"))
        tokens = validation["tokens"].sum()
        scores[model] = ModelScore(
            model=model,
            step=int(rows["step"][0]),
            val_loss=float(validation["loss_sum"].sum() / tokens) if tokens else float("nan"),
            golden_chrf=float(golden["chrf"].mean() or 0.0),
            golden_token_f1=float(golden["token_f1"].mean() or 0.0),
            stop_rate=float(expected["stopped"].mean()) if expected.height else 1.0,
        )
    return scores
