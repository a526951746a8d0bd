"""Curate one batch: dedup, the enzyme chain, re-scoring and the gate — no Dagster here."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from training_assets.diamonds_plus.dedup import Verdict, exact_duplicates, near_duplicates
from training_assets.diamonds_plus.enzymes.base import Enzyme, EnzymeStats, run_chain
from training_assets.diamonds_plus.neighbors import known_spans, nearest
from training_assets.diamonds_plus.report import build_report
from training_assets.diamonds_plus.scoring import final_quality
from training_assets.diamonds_plus.threads import thread_histories
from training_assets.indexing.hnsw import open_span_index

CONTEXT_TURN = pl.Struct({"this": pl.String, "if_ok": pl.String})
ADDED_COLUMNS = {
    "related_ids": pl.List(pl.String),
    "context": pl.List(CONTEXT_TURN),
    "code_blocks": pl.Int32,
    "broken_code_blocks": pl.Int32,
    "enzyme_log": pl.List(pl.String),
    "quality_before": pl.Float64,
    "quality": pl.Float64,
}
REJECTED_COLUMNS = {"reason": pl.String, "duplicate_of": pl.String}
_HELPERS = ("neighbors", "thread_history", "parent_missing")


@dataclass
class CurationInputs:
    """What the asset gathered for a batch; row i of every list belongs to spans row i."""

    spans: pl.DataFrame  # enriched_spans of the batch
    neighbors: list[list[tuple[str, float]]]  # nearest indexed spans (id, cosine)
    known: pl.DataFrame  # id, batch, environment, tags, quality_score, content_hash of others
    histories: Sequence[list[dict]]  # built on demand (threads.ThreadHistories)
    parent_missing: list[bool]


@dataclass
class CurationResult:
    kept: pl.DataFrame
    rejected: pl.DataFrame
    report: dict
    stats: dict[str, EnzymeStats] = field(default_factory=dict)


class CurationInputError(ValueError):
    """The batch's upstream tables disagree, or the index does not hold it yet."""


def gather_inputs(
    batch: str,
    enriched_spans: pl.DataFrame,
    span_embeddings: pl.DataFrame,
    raw_spans: pl.DataFrame,
    span_index_dir: Path,
    enriched_dir: Path,
    neighbors: int,
) -> CurationInputs:
    """What curating a batch needs besides its table: each span's nearest indexed spans,
    the rows of those (and of same-content spans) from every batch, and thread histories."""
    if not span_embeddings["id"].equals(enriched_spans["id"]):
        raise CurationInputError(
            f"span_embeddings and enriched_spans of {batch} disagree: re-materialize them"
        )
    index = open_span_index(span_index_dir)
    if index is None or batch not in index.batches:
        raise CurationInputError(
            f"span_index has not indexed {batch} yet: materialize span_index first"
        )
    ids = enriched_spans["id"].to_list()
    vectors = span_embeddings["combined_vec"].to_numpy().astype(np.float32, copy=False)
    found = nearest(index, ids, vectors, neighbors)
    del index, vectors
    wanted = {other for near in found for other, _ in near}
    known = known_spans(enriched_dir, wanted, set(enriched_spans["content_hash"].to_list()))
    readable = raw_spans.filter(pl.col("parse_error").is_null())
    histories, missing = thread_histories(
        readable, enriched_spans.select("id", "thread_id", "parent_id").to_dicts()
    )
    return CurationInputs(enriched_spans, found, known, histories, missing)


def _schema(spans: pl.DataFrame, extra: dict) -> pl.Schema:
    return pl.Schema({**spans.schema, **ADDED_COLUMNS, **extra})


def curate(
    inputs: CurationInputs,
    enzymes: Sequence[Enzyme],
    near_threshold: float,
    gate: float,
    progress: Callable[[int, int, float], None] | None = None,
    progress_every: float = 10.0,
) -> CurationResult:
    """`progress(done, total, seconds)` is called at most every `progress_every` seconds
    while the enzymes run, and once at the end."""
    started = time.perf_counter()
    spans = inputs.spans
    batch = spans["batch"][0] if spans.height else ""
    ids = spans["id"].to_list()
    quality = spans["quality_score"].to_list()
    others = inputs.known.filter(pl.col("batch") != batch)
    dropped: dict[str, Verdict] = exact_duplicates(
        list(zip(ids, quality, spans["content_hash"].to_list(), strict=True)),
        list(others.select("id", "quality_score", "content_hash").iter_rows()),
    )
    quality_of = dict(zip(others["id"].to_list(), others["quality_score"].to_list(), strict=True))
    quality_of.update(zip(ids, quality, strict=True))
    remaining = [i for i, span_id in enumerate(ids) if span_id not in dropped]
    dropped |= near_duplicates(
        [(ids[i], quality[i]) for i in remaining],
        [inputs.neighbors[i] for i in remaining],
        {k: v for k, v in quality_of.items() if k not in dropped},
        near_threshold,
    )

    facts = {
        row["id"]: row
        for row in inputs.known.select("id", "environment", "tags").iter_rows(named=True)
    }
    kept = _FrameBuilder(_schema(spans, {}))
    rejected = _FrameBuilder(_schema(spans, REJECTED_COLUMNS))
    reasons, before_after = [], []
    stats: dict[str, EnzymeStats] = {}

    def prepared():
        for i, span in enumerate(spans.iter_rows(named=True)):
            if span["id"] in dropped:
                continue
            span["neighbors"] = [
                {"id": other, "similarity": cosine, **_facts(facts, other)}
                for other, cosine in inputs.neighbors[i]
                if other not in dropped
            ]
            span["thread_history"] = inputs.histories[i]
            span["parent_missing"] = inputs.parent_missing[i]
            span |= _enzyme_defaults()
            yield span

    total, done, reported = len(ids) - len(dropped), 0, time.perf_counter()
    for outcome in run_chain(prepared(), enzymes, stats):
        done += 1
        if progress and time.perf_counter() - reported >= progress_every:
            reported = time.perf_counter()
            progress(done, total, reported - started)
        span = outcome.span
        for helper in _HELPERS:
            span.pop(helper, None)
        span["enzyme_log"] = outcome.log
        span["quality_before"] = span["quality_score"]
        span["quality"] = final_quality(span["quality_score"], outcome.quality_delta, span["if_ok"])
        before_after.append((span["quality_before"], span["quality"]))
        if span["quality"] >= gate:
            kept.add(span)
        else:
            reason = f"below_gate ({span['quality']:.1f} < {gate:g})"
            rejected.add(span | {"reason": reason, "duplicate_of": None})
            reasons.append(reason)

    if progress:
        progress(done, total, time.perf_counter() - started)
    for span in spans.filter(pl.col("id").is_in(list(dropped))).iter_rows(named=True):
        verdict = dropped[span["id"]]
        rejected.add(
            span
            | _enzyme_defaults()
            | {"enzyme_log": [], "quality_before": span["quality_score"]}
            | {"quality": span["quality_score"], "reason": verdict.reason}
            | {"duplicate_of": verdict.kept_id}
        )
        reasons.append(verdict.reason)

    kept, rejected = kept.frame(), rejected.frame()
    kinds = [
        kind
        for frame in (kept, rejected)
        for kinds in frame["redactions"].to_list()
        for kind in kinds or []
    ]
    report = build_report(
        batch,
        spans.height,
        before_after,
        reasons,
        len(dropped),
        stats,
        kinds,
        gate,
        time.perf_counter() - started,
    )
    return CurationResult(kept, rejected, report, stats)


class _FrameBuilder:
    """Rows → DataFrame a few thousand at a time, so a 50k-span batch never holds all its
    rows as Python dicts (texts, context turns) at once."""

    def __init__(self, schema: pl.Schema, chunk: int = 2048) -> None:
        self.schema, self.chunk = schema, chunk
        self.rows: list[dict] = []
        self.frames: list[pl.DataFrame] = []

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.chunk:
            self.frames.append(pl.DataFrame(self.rows, schema=self.schema))
            self.rows = []

    def frame(self) -> pl.DataFrame:
        if self.rows or not self.frames:
            self.frames.append(pl.DataFrame(self.rows, schema=self.schema))
        return pl.concat(self.frames, rechunk=True)


def _enzyme_defaults() -> dict:
    """Values of the enzyme-written columns for a span no enzyme has touched."""
    return {"related_ids": [], "context": [], "code_blocks": 0, "broken_code_blocks": 0}


def _facts(facts: dict, span_id: str) -> dict:
    row = facts.get(span_id)
    return {"environment": row["environment"], "tags": row["tags"]} if row else {}
