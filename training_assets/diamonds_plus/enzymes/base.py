"""What an enzyme is, and how a configured chain of them runs over a batch of spans.

An enzyme is a callable taking one span (a dict of the enriched_spans columns plus the
helper fields the asset prepared: `neighbors`, `thread_history`) and returning an
`EnzymeResult`: the changed span (a new dict; the input is not mutated), a change log a
reviewer can read, and the quality points the enzyme adds or takes away. `effective`
says the enzyme found something to work on (a span with code for the syntax optimizer,
a thread for the context preserver); the counters keep it, so a report shows that each
enzyme really ran and on how many spans it mattered.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class EnzymeResult:
    span: dict
    changes: list[str] = field(default_factory=list)
    quality_delta: float = 0.0
    effective: bool = False


class Enzyme(Protocol):
    name: str

    def __call__(self, span: dict) -> EnzymeResult: ...


@dataclass
class EnzymeStats:
    seen: int = 0
    changed: int = 0
    effective_calls: int = 0
    quality_impact: float = 0.0
    seconds: float = 0.0

    @property
    def mean_quality_impact(self) -> float:
        return self.quality_impact / self.seen if self.seen else 0.0

    def as_dict(self) -> dict:
        return {
            "seen": self.seen,
            "changed": self.changed,
            "effective_calls": self.effective_calls,
            "mean_quality_impact": round(self.mean_quality_impact, 4),
            "spans_per_second": round(self.seen / self.seconds, 1) if self.seconds else None,
        }


@dataclass
class ChainOutcome:
    span: dict
    log: list[str]
    quality_delta: float


def run_chain(
    spans: Iterable[dict], enzymes: Sequence[Enzyme], stats: dict[str, EnzymeStats]
) -> Iterator[ChainOutcome]:
    """Each span through every enzyme in order; counters accumulate in `stats`."""
    for enzyme in enzymes:
        stats.setdefault(enzyme.name, EnzymeStats())
    for span in spans:
        log: list[str] = []
        delta = 0.0
        for enzyme in enzymes:
            counters = stats[enzyme.name]
            started = time.perf_counter()
            result = enzyme(span)
            counters.seconds += time.perf_counter() - started
            counters.seen += 1
            counters.effective_calls += result.effective
            counters.quality_impact += result.quality_delta
            if result.changes:
                counters.changed += 1
                log.extend(f"{enzyme.name}: {change}" for change in result.changes)
            delta += result.quality_delta
            span = result.span
        yield ChainOutcome(span, log, delta)
