"""The rule that picks the best checkpoint, read off paired intervals (`paired.py`).

Every checkpoint is compared with the *reference* — the model deployed now, or the base
model before any deploy — on the same examples:

- each golden metric (chrF, token F1, the cosine of answer and reference under the
  project's embedding model, and whether the answer ended its turn where the reference
  fits the budget): the mean per-example delta with its interval. A checkpoint
  *regresses* when any interval lies wholly below `−tolerance` for that metric;
- the answer loss, token-weighted, on validation and on golden examples.

Among checkpoints that do not regress, the lowest validation loss wins (the earlier step
on a tie). Choosing on validation makes its gain optimistic, so the best checkpoint's
claim to be *better* is confirmed on the golden examples' loss, which played no part in
the choice (validation when there is no golden set): `confirmation` holds that interval
and its verdict, and `deploy/decision.py` deploys only on `better`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from training_assets.evaluation.paired import (
    BETTER,
    WORSE,
    Interval,
    loss_gain,
    mean_delta,
    verdict,
)

# golden metric -> (column, label); `stopped` only counts rows whose reference fits the budget
GOLDEN_METRICS = {
    "chrf": ("chrf", "chrF"),
    "token_f1": ("token_f1", "token F1"),
    "answer_cosine": ("answer_cosine", "answer cosine"),
    "judge_score": ("judge_score", "judge score"),  # only with a judge (judge.py)
    "stop_rate": ("stopped", "stop rate"),
}


@dataclass(frozen=True)
class ComparisonRule:
    level: float = 0.95
    resamples: int = 2000
    seed: int = 0
    # a regression smaller than this (in the metric's own unit) does not count
    tolerances: dict[str, float] = field(default_factory=dict)

    def tolerance(self, metric: str) -> float:
        return self.tolerances.get(metric, 0.0)


@dataclass(frozen=True)
class ModelScore:
    model: str  # "base", "deployed" or a checkpoint name (step-000040)
    step: int
    val_loss: float
    golden_loss: float
    golden_chrf: float
    golden_token_f1: float
    golden_answer_cosine: float
    stop_rate: float


@dataclass(frozen=True)
class Comparison:
    candidate: str
    reference: str
    validation_loss_gain: Interval | None
    golden_loss_gain: Interval | None
    golden: dict[str, Interval]  # metric -> candidate − reference
    regressions: list[str]

    def confirmation(self) -> tuple[str, Interval | None]:
        """The loss gain the deploy decision reads: golden when there is a golden set."""
        if self.golden_loss_gain is not None:
            return "golden", self.golden_loss_gain
        return "validation", self.validation_loss_gain

    def as_dict(self) -> dict:
        split, interval = self.confirmation()
        return {
            "candidate": self.candidate,
            "reference": self.reference,
            "validation_loss_gain": _dict(self.validation_loss_gain),
            "golden_loss_gain": _dict(self.golden_loss_gain),
            "golden": {metric: i.as_dict() for metric, i in self.golden.items()},
            "regressions": self.regressions,
            "confirmation": {
                "split": split,
                "interval": _dict(interval),
                "verdict": verdict(interval) if interval else "not measured",
            },
        }


@dataclass(frozen=True)
class Selection:
    best: ModelScore | None
    reference: ModelScore
    verdicts: dict[str, str]
    comparisons: dict[str, Comparison]


def _dict(interval: Interval | None) -> dict | None:
    return interval.as_dict() if interval else None


def paired_rows(evals: pl.DataFrame, split: str, candidate: str, reference: str) -> pl.DataFrame:
    """The split's rows of both models joined by example (the reference's columns `_ref`)."""
    rows = evals.filter(pl.col("split") == split)
    return rows.filter(pl.col("model") == candidate).join(
        rows.filter(pl.col("model") == reference), on="example_id", suffix="_ref"
    )


def _loss_gain(pairs: pl.DataFrame, rule: ComparisonRule) -> Interval | None:
    pairs = pairs.filter(pl.col("loss_sum").is_not_null() & pl.col("loss_sum_ref").is_not_null())
    if pairs.is_empty() or not (pairs["tokens"].sum() or 0):
        return None
    return loss_gain(
        pairs["loss_sum"].to_numpy(),
        pairs["loss_sum_ref"].to_numpy(),
        pairs["tokens"].to_numpy(),
        rule.level,
        rule.resamples,
        rule.seed,
    )


def compare(
    evals: pl.DataFrame, candidate: str, reference: str, rule: ComparisonRule
) -> Comparison:
    """`candidate` against `reference` on the examples both were scored on."""
    golden_pairs = paired_rows(evals, "golden", candidate, reference)
    golden, regressions = {}, []
    for metric, (column, label) in GOLDEN_METRICS.items():
        pairs = golden_pairs
        if metric == "stop_rate":
            pairs = pairs.filter(pl.col("expected_stop"))
        pairs = pairs.filter(pl.col(column).is_not_null() & pl.col(f"{column}_ref").is_not_null())
        if pairs.is_empty():
            continue
        interval = mean_delta(
            pairs[column].cast(pl.Float64).to_numpy(),
            pairs[f"{column}_ref"].cast(pl.Float64).to_numpy(),
            rule.level,
            rule.resamples,
            rule.seed,
        )
        golden[metric] = interval
        if verdict(interval, rule.tolerance(metric)) == WORSE:
            regressions.append(f"{label} {interval.text()} below {reference}")
    return Comparison(
        candidate,
        reference,
        _loss_gain(paired_rows(evals, "validation", candidate, reference), rule),
        _loss_gain(golden_pairs, rule),
        golden,
        regressions,
    )


def choose_best(
    evals: pl.DataFrame,
    candidates: list[ModelScore],
    reference: ModelScore,
    rule: ComparisonRule | None = None,
) -> Selection:
    rule = rule or ComparisonRule()
    verdicts, eligible, comparisons = {}, [], {}
    for candidate in candidates:
        comparison = compare(evals, candidate.model, reference.model, rule)
        comparisons[candidate.model] = comparison
        if comparison.regressions:
            verdicts[candidate.model] = "regresses: " + "; ".join(comparison.regressions)
        else:
            verdicts[candidate.model] = "eligible"
            eligible.append(candidate)
    best = min(eligible, key=lambda c: (c.val_loss, c.step), default=None)
    if best is not None:
        split, interval = comparisons[best.model].confirmation()
        claim = (
            f"{split} loss gain {interval.text()}: {verdict(interval)}"
            if interval
            else "no loss measured against the reference"
        )
        verdicts[best.model] = f"best: lowest validation loss among the eligible; {claim}"
    return Selection(best, reference, verdicts, comparisons)


def is_confirmed_better(comparison: dict) -> bool:
    """Whether a `Comparison.as_dict()` says the candidate's loss gain lies above 0."""
    return comparison.get("confirmation", {}).get("verdict") == BETTER


def _mean(rows: pl.DataFrame, column: str) -> float:
    values = rows[column].drop_nulls()
    return float(values.cast(pl.Float64).mean()) if values.len() else float("nan")


def _loss(rows: pl.DataFrame) -> float:
    rows = rows.filter(pl.col("loss_sum").is_not_null())
    tokens = rows["tokens"].sum() or 0
    return float(rows["loss_sum"].sum() / tokens) if tokens else float("nan")


def model_scores(evals: pl.DataFrame) -> dict[str, ModelScore]:
    """Per-model aggregates of the per-example `checkpoint_evals` table (for display; the
    decisions are taken on paired intervals)."""
    scores = {}
    for (model,), rows in evals.group_by("model", maintain_order=True):
        validation = rows.filter(pl.col("split") == "validation")
        golden = rows.filter(pl.col("split") == "golden")
        expected = golden.filter(pl.col("expected_stop"))
        scores[model] = ModelScore(
            model=model,
            step=int(rows["step"][0]),
            val_loss=_loss(validation),
            golden_loss=_loss(golden),
            golden_chrf=_mean(golden, "chrf"),
            golden_token_f1=_mean(golden, "token_f1"),
            golden_answer_cosine=_mean(golden, "answer_cosine"),
            stop_rate=_mean(expected, "stopped") if expected.height else float("nan"),
        )
    return scores
