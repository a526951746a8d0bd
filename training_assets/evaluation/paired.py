"""Paired comparisons of two models on the same examples, with bootstrap intervals.

Every decision the product takes on its own (a checkpoint regresses, a checkpoint is
better, the sensor deploys) is read off an interval, never off a difference of means:

- a mean per-example delta (chrF, token F1, answer cosine, stop) is resampled by example
  (scipy's paired BCa bootstrap);
- a loss gain is token-weighted, `(Σ reference loss − Σ candidate loss) / Σ tokens`, a
  ratio of sums, resampled by example as well, so long answers weigh as they should.

`verdict` reads an interval: `better` when it lies above 0, `worse` when it lies below
`−tolerance` (a regression smaller than the tolerance is not one), `no clear difference`
otherwise. Intervals are seeded: the same tables give the same verdicts.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

BETTER = "better"
WORSE = "worse"
UNCLEAR = "no clear difference"


@dataclass(frozen=True)
class Interval:
    """A paired difference (candidate against reference; positive = candidate ahead)."""

    estimate: float
    low: float
    high: float
    level: float
    examples: int

    def text(self, digits: int = 3) -> str:
        return f"{self.estimate:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"

    def as_dict(self) -> dict:
        return asdict(self)


def verdict(interval: Interval, tolerance: float = 0.0) -> str:
    if interval.low > 0:
        return BETTER
    if interval.high < -tolerance:
        return WORSE
    return UNCLEAR


def _bootstrap(samples: tuple[np.ndarray, ...], statistic, level: float, resamples: int, seed: int):
    from scipy.stats import bootstrap

    with warnings.catch_warnings():
        # BCa warns (and gives nan) on a degenerate resampling distribution; the
        # percentile interval is the fallback below
        warnings.simplefilter("ignore")
        for method in ("BCa", "percentile"):
            result = bootstrap(
                samples,
                statistic,
                paired=True,
                vectorized=True,
                axis=-1,
                n_resamples=resamples,
                confidence_level=level,
                method=method,
                rng=np.random.default_rng(seed),
            )
            low, high = result.confidence_interval
            if np.isfinite(low) and np.isfinite(high):
                return float(low), float(high)
    return float("nan"), float("nan")


def mean_delta(
    candidate, reference, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Interval:
    """Mean of candidate − reference over paired examples, with its bootstrap interval."""
    delta = np.asarray(candidate, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    if delta.size == 0:
        raise ValueError("no paired examples to compare")
    estimate = float(delta.mean())
    if delta.size == 1 or np.all(delta == delta[0]):
        return Interval(estimate, estimate, estimate, level, int(delta.size))
    low, high = _bootstrap((delta,), lambda d, axis: d.mean(axis=axis), level, resamples, seed)
    return Interval(estimate, low, high, level, int(delta.size))


def loss_gain(
    candidate_loss_sums,
    reference_loss_sums,
    tokens,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Token-weighted loss gain (reference − candidate, nats per answer token) over
    paired examples, with its bootstrap interval; positive = the candidate is better."""
    candidate = np.asarray(candidate_loss_sums, dtype=np.float64)
    reference = np.asarray(reference_loss_sums, dtype=np.float64)
    weights = np.asarray(tokens, dtype=np.float64)
    if candidate.size == 0 or weights.sum() <= 0:
        raise ValueError("no paired examples (with answer tokens) to compare")
    estimate = float((reference.sum() - candidate.sum()) / weights.sum())
    per_token = (reference - candidate) / np.maximum(weights, 1)
    if candidate.size == 1 or np.all(per_token == per_token[0]):
        return Interval(estimate, estimate, estimate, level, int(candidate.size))

    def statistic(c, r, w, axis):
        return (r.sum(axis=axis) - c.sum(axis=axis)) / w.sum(axis=axis)

    low, high = _bootstrap((candidate, reference, weights), statistic, level, resamples, seed)
    return Interval(estimate, low, high, level, int(candidate.size))
