"""Evaluation measures and the best-checkpoint rule."""

from __future__ import annotations

import polars as pl

from training_assets.evaluation.measures import chrf, token_f1
from training_assets.evaluation.selection import ModelScore, choose_best, model_scores


def test_token_f1_and_chrf_score_closeness():
    assert token_f1("the cat sat", "the cat sat") == 1.0
    assert token_f1("a dog", "the cat sat") == 0.0
    assert 0.0 < token_f1("the cat ran", "the cat sat") < 1.0
    assert chrf("the cat sat on the mat", "the cat sat on the mat") == 100.0
    assert chrf("the cat sat on a mat", "the cat sat on the mat") > chrf(
        "dogs bark", "the cat sat on the mat"
    )


def _score(model, step, loss, chrf_=50.0, stop=1.0):
    return ModelScore(model, step, loss, chrf_, 0.5, stop)


def test_best_is_lowest_loss_among_checkpoints_that_do_not_regress():
    base = _score("base", 0, 2.0, chrf_=40.0, stop=0.9)
    candidates = [
        _score("step-000010", 10, 1.8, chrf_=41.0),
        _score("step-000020", 20, 1.6, chrf_=30.0),  # lowest loss, but worse answers
        _score("step-000030", 30, 1.7, chrf_=39.5),  # within the 1-point tolerance
        _score("step-000040", 40, 1.5, chrf_=45.0, stop=0.5),  # stops its turn far less
    ]
    selection = choose_best(candidates, base, chrf_tolerance=1.0, stop_tolerance=0.1)
    assert selection.best.model == "step-000030"
    assert selection.verdicts["step-000020"].startswith("regresses: golden chrF")
    assert selection.verdicts["step-000040"].startswith("regresses: stop rate")


def test_ties_go_to_the_earlier_step_and_all_regressing_means_none():
    base = _score("base", 0, 2.0)
    tie = choose_best([_score("step-000020", 20, 1.5), _score("step-000010", 10, 1.5)], base)
    assert tie.best.model == "step-000010"
    assert choose_best([_score("step-000010", 10, 1.0, chrf_=10.0)], base).best is None


def test_model_scores_aggregate_the_per_example_table():
    rows = [
        {
            "model": "base",
            "step": 0,
            "split": "validation",
            "loss_sum": 6.0,
            "tokens": 3,
            "chrf": None,
            "token_f1": None,
            "stopped": None,
            "expected_stop": None,
        },
        {
            "model": "base",
            "step": 0,
            "split": "validation",
            "loss_sum": 2.0,
            "tokens": 1,
            "chrf": None,
            "token_f1": None,
            "stopped": None,
            "expected_stop": None,
        },
        {
            "model": "base",
            "step": 0,
            "split": "golden",
            "loss_sum": None,
            "tokens": None,
            "chrf": 40.0,
            "token_f1": 0.2,
            "stopped": True,
            "expected_stop": True,
        },
        {
            "model": "base",
            "step": 0,
            "split": "golden",
            "loss_sum": None,
            "tokens": None,
            "chrf": 60.0,
            "token_f1": 0.4,
            "stopped": False,
            "expected_stop": False,
        },
    ]
    score = model_scores(pl.DataFrame(rows))["base"]
    assert score.val_loss == 2.0  # token-weighted: (6 + 2) / (3 + 1)
    assert score.golden_chrf == 50.0 and abs(score.golden_token_f1 - 0.3) < 1e-9
    assert score.stop_rate == 1.0  # only the answer expected to stop counts
