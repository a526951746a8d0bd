"""Evaluation measures, the paired intervals and the best-checkpoint rule."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tests.conftest import best_checkpoint_document
from training_assets.deploy.decision import deploy_decision
from training_assets.evaluation.evaluate import EVAL_SCHEMA
from training_assets.evaluation.measures import chrf, token_f1
from training_assets.evaluation.paired import BETTER, UNCLEAR, WORSE, loss_gain, mean_delta, verdict
from training_assets.evaluation.selection import (
    ComparisonRule,
    choose_best,
    compare,
    model_scores,
)


def test_token_f1_and_chrf_score_closeness():
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("a dog", "the cat sat") == 0.0
    assert 0.0 < token_f1("the cat ran", "the cat sat") < 1.0
    assert chrf("the cat sat on the mat", "the cat sat on the mat") == 100.0
    assert chrf("the cat sat on a mat", "the cat sat on the mat") > chrf(
        "dogs bark", "the cat sat on the mat"
    )


def test_mean_delta_interval_covers_the_truth_and_decides_only_when_clear():
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(40):
        reference = rng.normal(50, 10, 64)
        candidate = reference + rng.normal(0.5, 3, 64)  # true mean delta 0.5
        interval = mean_delta(candidate, reference, seed=trial)
        covered += interval.low <= 0.5 <= interval.high
        assert interval.low <= interval.estimate <= interval.high
    assert covered >= 34  # ~95 % of 40, with room for chance
    clear = mean_delta(np.full(64, 60.0) + rng.normal(0, 1, 64), np.full(64, 50.0))
    assert (
        verdict(clear) == BETTER
        and verdict(mean_delta(np.full(8, 40.0), np.full(8, 50.0))) == WORSE
    )
    noisy = mean_delta(rng.normal(49.1, 10, 8), rng.normal(50, 10, 8))
    assert verdict(noisy) in (UNCLEAR, WORSE)
    # a regression smaller than the tolerance is no regression
    small = mean_delta(np.full(16, 49.5) + rng.normal(0, 0.01, 16), np.full(16, 50.0))
    assert verdict(small) == WORSE and verdict(small, tolerance=1.0) == UNCLEAR


def test_loss_gain_is_token_weighted_and_paired():
    reference = np.array([10.0, 2.0, 30.0, 4.0])
    candidate = np.array([9.0, 2.0, 27.0, 4.0])
    tokens = np.array([10, 2, 30, 4])
    interval = loss_gain(candidate, reference, tokens)
    assert interval.estimate == pytest.approx((46 - 42) / 46)
    assert interval.low <= interval.estimate <= interval.high and interval.examples == 4
    with pytest.raises(ValueError):
        loss_gain([], [], [])


def _rows(model, step, split, values, **columns):
    rows = []
    for i, value in enumerate(values):
        row = {name: None for name in EVAL_SCHEMA}
        row.update(model=model, step=step, split=split, example_id=f"e{i}")
        if split == "validation":
            row.update(loss_sum=value * 10, tokens=10)
        else:
            row.update(
                loss_sum=value * 10,
                tokens=10,
                chrf=columns.get("chrf", [40.0] * len(values))[i],
                token_f1=0.3,
                answer_cosine=columns.get("cosine", [0.6] * len(values))[i],
                stopped=columns.get("stopped", [True] * len(values))[i],
                expected_stop=True,
                budget=64,
            )
        rows.append(row)
    return rows


def _evals(models: dict) -> pl.DataFrame:
    rows = []
    for (model, step), (val, golden, extra) in models.items():
        rows += _rows(model, step, "validation", val)
        rows += _rows(model, step, "golden", golden, **extra)
    return pl.DataFrame(rows, schema=EVAL_SCHEMA)


def test_best_is_lowest_loss_among_checkpoints_without_a_clear_regression():
    rng = np.random.default_rng(0)
    n = 64
    base_chrf = rng.normal(40, 8, n)
    evals = _evals(
        {
            ("base", 0): (np.full(n, 2.0), np.full(n, 2.0), {"chrf": base_chrf}),
            # better loss, answers no different
            ("step-000010", 10): (
                np.full(n, 1.8) + rng.normal(0, 0.05, n),
                np.full(n, 1.8) + rng.normal(0, 0.05, n),
                {"chrf": base_chrf + rng.normal(0, 2, n)},
            ),
            # lowest loss, but clearly worse answers
            ("step-000020", 20): (
                np.full(n, 1.5),
                np.full(n, 1.5),
                {"chrf": base_chrf - 10 + rng.normal(0, 2, n)},
            ),
            # stops its turn far less often
            ("step-000030", 30): (
                np.full(n, 1.6),
                np.full(n, 1.6),
                {"chrf": base_chrf, "stopped": [i % 4 == 0 for i in range(n)]},
            ),
        }
    )
    scores = model_scores(evals)
    base = scores.pop("base")
    selection = choose_best(evals, list(scores.values()), base)
    assert selection.best.model == "step-000010"
    assert selection.verdicts["step-000020"].startswith("regresses: chrF")
    assert "stop rate" in selection.verdicts["step-000030"]
    comparison = selection.comparisons["step-000010"].as_dict()
    assert comparison["confirmation"]["split"] == "golden"
    assert comparison["confirmation"]["verdict"] == BETTER
    assert comparison["golden"]["chrf"]["low"] < 0 < comparison["golden"]["chrf"]["high"]


def test_noise_does_not_confirm_a_gain_and_the_decision_reads_the_interval():
    rng = np.random.default_rng(3)
    n = 24
    base_loss = rng.normal(2.0, 0.3, n)
    evals = _evals(
        {
            ("base", 0): (base_loss, base_loss, {}),
            # a lower mean loss made of noise around the base's
            ("step-000010", 10): (
                base_loss - 0.01 + rng.normal(0, 0.3, n),
                base_loss - 0.01 + rng.normal(0, 0.3, n),
                {},
            ),
        }
    )
    scores = model_scores(evals)
    base = scores.pop("base")
    selection = choose_best(evals, list(scores.values()), base)
    record = {
        "run_id": "run-1",
        "checkpoint": selection.best.model,
        "path": "/runs/run-1/checkpoints/step-000010",
        "reference": "base",
        "comparison": selection.comparisons["step-000010"].as_dict(),
    }
    assert record["comparison"]["confirmation"]["verdict"] == UNCLEAR
    deploy, reason = deploy_decision(record, None, 0.0)
    assert not deploy and "lower bound not above 0" in reason


def test_the_deploy_decision_needs_an_interval_above_the_margin():
    best = best_checkpoint_document

    assert deploy_decision(best(0.02, 0.06), None, 0.0)[0]
    assert not deploy_decision(best(0.02, 0.06), None, 0.03)[0]  # not clear of the margin
    assert not deploy_decision(best(-0.01, 0.06), None, 0.0)[0]  # the interval reaches 0
    assert not deploy_decision(best(0.02, 0.06, checkpoint=None), None, 0.0)[0]
    deployed = {"checkpoint_path": "/runs/run-1/checkpoints/step-000020"}
    assert not deploy_decision(best(0.02, 0.06), deployed, 0.0)[0]  # already deployed
    stale = {k: v for k, v in best(0.02, 0.06).items() if k != "comparison"}
    assert "materialize best_checkpoint again" in deploy_decision(stale, None, 0.0)[1]


def test_comparison_pairs_examples_and_ignores_those_one_side_lacks():
    evals = _evals(
        {
            ("base", 0): (np.full(8, 2.0), np.full(8, 2.0), {}),
            ("step-000010", 10): (np.full(6, 1.0), np.full(6, 1.0), {}),
        }
    )
    comparison = compare(evals, "step-000010", "base", ComparisonRule())
    assert comparison.validation_loss_gain.examples == 6
    assert comparison.validation_loss_gain.estimate == pytest.approx(1.0)


def test_model_scores_aggregate_the_per_example_table():
    evals = _evals(
        {("base", 0): ([0.6, 0.2], [1.0, 3.0], {"chrf": [40.0, 60.0], "stopped": [True, False]})}
    )
    score = model_scores(evals)["base"]
    assert score.val_loss == pytest.approx(0.4)  # token-weighted
    assert score.golden_loss == pytest.approx(2.0)
    assert score.golden_chrf == 50.0 and score.stop_rate == 0.5


def test_the_judge_prompt_and_its_score_parsing():
    from training_assets.evaluation.judge import judge_prompt, parse_score

    prompt = judge_prompt([{"role": "user", "content": "2+2?"}], "4", "four")
    assert "user: 2+2?" in prompt and "## Reference answer\n4" in prompt and "four" in prompt
    assert parse_score("score: 7") == 7 and parse_score("Score = 10.") == 10
    assert parse_score("I would say 7") is None and parse_score("score: 11") is None
    assert parse_score("") is None
