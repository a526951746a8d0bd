"""Kernel state: the compact knowledge of a batch (patterns, statistics, recommendations,
Merkle root), and the merge of many batches' states into the global one.

A batch's state is computed from its ledger (and the span vectors, for the patterns), so
the state computed while the batch's tables exist and the one rebuilt from its archive
agree. The global state is a pure function of the set of batch states it holds: merging
is associative, commutative and idempotent, and a batch present twice keeps the newer
of its two states (by `created`, then Merkle root), whichever order they arrive in.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import hnswlib
import numpy as np

from training_assets.kernel.ledger import Ledger, batch_merkle_root
from training_assets.kernel.merkle import merkle_root
from training_assets.spans.taxonomy import TAXONOMY

KERNEL_VERSION = 1


@dataclass(frozen=True)
class PatternParams:
    similarity: float = 0.8  # a member's cosine similarity to the cluster's leader
    neighbors: int = 16
    min_size: int = 3
    limit: int = 50
    examples: int = 5


@dataclass(frozen=True)
class RecommendationParams:
    under_represented_share: float = 0.02
    frequent_rejection_share: float = 0.05


@dataclass(frozen=True)
class Pattern:
    action: str
    environment: str
    tags: list[str]
    size: int
    confidence: float  # mean cosine similarity of the members to the leader
    example_ids: list[str]


def _neighbor_graph(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours of each vector among the others, by an HNSW index of the batch.

    One build thread and a fixed seed, so the same vectors always give the same graph.
    """
    index = hnswlib.Index(space="cosine", dim=vectors.shape[1])
    index.init_index(max_elements=len(vectors), ef_construction=100, M=16, random_seed=7)
    index.add_items(vectors, np.arange(len(vectors)), num_threads=1)
    k = min(k + 1, len(vectors))
    index.set_ef(max(64, k))
    labels, distances = index.knn_query(vectors, k=k)
    return labels.astype(np.int64), 1.0 - distances


def consolidate_patterns(
    span_ids: Sequence[str],
    actions: Sequence[str],
    environments: Sequence[str | None],
    tags: Sequence[Sequence[str]],
    vectors: np.ndarray,
    params: PatternParams = PatternParams(),
) -> list[Pattern]:
    """Clusters of similar spans: the densest unclaimed span leads, and claims its
    unclaimed neighbours at least `similarity` alike; clusters under `min_size` are noise."""
    n = len(span_ids)
    if n < params.min_size:
        return []
    labels, similarity = _neighbor_graph(np.asarray(vectors, dtype=np.float32), params.neighbors)
    close = (similarity >= params.similarity) & (labels != np.arange(n)[:, None])
    density = close.sum(axis=1)
    claimed = np.zeros(n, dtype=bool)
    patterns = []
    for leader in sorted(range(n), key=lambda i: (-density[i], span_ids[i])):
        if claimed[leader] or density[leader] + 1 < params.min_size:
            continue
        picked = [
            (int(j), float(s))
            for j, s, ok in zip(labels[leader], similarity[leader], close[leader], strict=True)
            if ok and not claimed[j]
        ]
        members = [leader] + [j for j, _ in picked]
        if len(members) < params.min_size:
            continue
        claimed[members] = True
        patterns.append(
            Pattern(
                action=Counter(actions[i] for i in members).most_common(1)[0][0],
                environment=Counter(environments[i] or "unknown" for i in members).most_common(1)[
                    0
                ][0],
                tags=[t for t, _ in Counter(t for i in members for t in tags[i]).most_common(3)],
                size=len(members),
                confidence=round(float(np.mean([sim for _, sim in picked])), 4),
                example_ids=sorted(span_ids[i] for i in members)[: params.examples],
            )
        )
    patterns.sort(key=lambda p: (-p.size, -p.confidence, p.example_ids[0]))
    return patterns[: params.limit]


def _quality_summary(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "p10": None, "p50": None, "p90": None, "histogram": {}}
    array = np.asarray(values, dtype=np.float64)
    edges = list(range(0, 101, 5))
    counts, _ = np.histogram(array, bins=edges)
    return {
        "mean": round(float(array.mean()), 3),
        "p10": round(float(np.percentile(array, 10)), 3),
        "p50": round(float(np.percentile(array, 50)), 3),
        "p90": round(float(np.percentile(array, 90)), 3),
        "histogram": {f"{lo}-{lo + 5}": int(c) for lo, c in zip(edges, counts, strict=False) if c},
    }


def batch_statistics(ledger: Ledger) -> dict:
    diamonds_report = ledger.reports.get("diamonds_plus", {})
    curated_quality = [r["quality"] for r in ledger.curated if r.get("quality") is not None]
    return {
        "spans": {
            "lines": len(ledger.spans) + len(ledger.quarantine),
            "diamonds": len(ledger.spans),
            "quarantined": len(ledger.quarantine),
            "diamonds_plus": len(ledger.curated),
            "rejected": len(ledger.rejected),
        },
        "quality": _quality_summary(
            [r["quality_score"] for r in ledger.spans if r.get("quality_score") is not None]
        ),
        "diamonds_plus_quality": _quality_summary(curated_quality),
        "enzymes": {
            e["name"]: {
                "changed": e["changed"],
                "seen": e["seen"],
                "mean_quality_impact": e["mean_quality_impact"],
            }
            for e in diamonds_report.get("enzymes", [])
        },
        "redactions": {
            "validation": dict(Counter(k for r in ledger.spans for k in r.get("redactions") or [])),
            "security_enzyme": diamonds_report.get("redactions_by_kind", {}),
        },
        "dedup": dict(Counter(r["reason"] for r in ledger.rejected)),
        "rejection_reasons": dict(Counter(r["category"] for r in ledger.quarantine)),
        "actions": dict(Counter(r["did"] for r in ledger.spans)),
        "environments": dict(Counter(r.get("environment") or "unknown" for r in ledger.spans)),
        "domains": dict(Counter(t for r in ledger.curated for t in r.get("tags") or [])),
    }


def recommendations(
    statistics: dict, params: RecommendationParams = RecommendationParams()
) -> list[dict]:
    """What the data says to do next: domains to collect more of, rejections to fix at source."""
    advice = []
    curated = max(statistics["spans"]["diamonds_plus"], 1)
    for domain in sorted(TAXONOMY):
        count = statistics["domains"].get(domain, 0)
        share = count / curated
        if share < params.under_represented_share:
            advice.append(
                {
                    "kind": "under_represented_domain",
                    "subject": domain,
                    "count": count,
                    "share": round(share, 4),
                    "detail": f"{count} of {curated} diamonds+ are tagged {domain}: collect or generate more",
                }
            )
    lines = max(statistics["spans"]["lines"], 1)
    rejections = Counter(statistics["rejection_reasons"]) + Counter(statistics["dedup"])
    for reason, count in sorted(rejections.items(), key=lambda item: (-item[1], item[0])):
        share = count / lines
        if share >= params.frequent_rejection_share:
            advice.append(
                {
                    "kind": "frequent_rejection_reason",
                    "subject": reason,
                    "count": count,
                    "share": round(share, 4),
                    "detail": f"{count} of {lines} lines rejected as {reason}: fix it at the source",
                }
            )
    return advice


def build_kernel_state(
    ledger: Ledger,
    vectors_by_id: dict[str, np.ndarray],
    created: str,
    patterns: PatternParams = PatternParams(),
    advice: RecommendationParams = RecommendationParams(),
) -> dict:
    """The kernel state of one batch: JSON-ready."""
    tags = {r["id"]: r.get("tags") or [] for r in ledger.curated}
    spans = sorted((r for r in ledger.spans if r["id"] in vectors_by_id), key=lambda r: r["id"])
    found = consolidate_patterns(
        [r["id"] for r in spans],
        [r["did"] for r in spans],
        [r.get("environment") for r in spans],
        [tags.get(r["id"], []) for r in spans],
        np.stack([vectors_by_id[r["id"]] for r in spans])
        if spans
        else np.empty((0, 1), np.float32),
        patterns,
    )
    statistics = batch_statistics(ledger)
    return {
        "version": KERNEL_VERSION,
        "batch": ledger.batch,
        "created": created,
        "merkle_root": batch_merkle_root(ledger.spans),
        "spans": len(ledger.spans),
        "patterns": [asdict(p) for p in found],
        "statistics": statistics,
        "recommendations": recommendations(statistics, advice),
    }


# ---- the global state -------------------------------------------------------------------


def _newer(a: dict, b: dict) -> dict:
    return max(a, b, key=lambda state: (state["created"], state["merkle_root"]))


def _without_archive(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "archive"}


def global_merkle_root(batch_roots: dict[str, str]) -> str:
    """Root over the batches' roots, leaves sorted by batch key: proves a batch's root."""
    leaves = [
        hashlib.sha256(f"{batch}\0{root}".encode()).hexdigest()
        for batch, root in sorted(batch_roots.items())
    ]
    return merkle_root(leaves)


def _sum_counts(dicts: Iterable[dict]) -> dict:
    total: Counter = Counter()
    for d in dicts:
        total.update(d)
    return dict(sorted(total.items()))


def _merged_patterns(states: Iterable[dict], limit: int) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for state in states:
        for p in state["patterns"]:
            key = (p["action"], p["environment"], p["tags"][0] if p["tags"] else "")
            group = groups.setdefault(
                key,
                {"action": key[0], "environment": key[1], "tag": key[2], "size": 0, "weight": 0.0,
                 "batches": 0, "example_ids": []},
            )  # fmt: skip
            group["size"] += p["size"]
            group["weight"] += p["size"] * p["confidence"]
            group["batches"] += 1
            group["example_ids"] = sorted(group["example_ids"] + p["example_ids"])[:5]
    merged = [
        {
            **{k: v for k, v in g.items() if k != "weight"},
            "confidence": round(g["weight"] / g["size"], 4),
        }
        for g in groups.values()
    ]
    merged.sort(key=lambda p: (-p["size"], p["action"], p["environment"], p["tag"]))
    return merged[:limit]


def _statistics_total(states: list[dict]) -> dict:
    stats = [s["statistics"] for s in states]
    return {
        "spans": _sum_counts(s["spans"] for s in stats),
        "dedup": _sum_counts(s["dedup"] for s in stats),
        "rejection_reasons": _sum_counts(s["rejection_reasons"] for s in stats),
        "actions": _sum_counts(s["actions"] for s in stats),
        "environments": _sum_counts(s["environments"] for s in stats),
        "domains": _sum_counts(s["domains"] for s in stats),
        "redactions": {
            stage: _sum_counts(s["redactions"][stage] for s in stats)
            for stage in ("validation", "security_enzyme")
        },
    }


def derive_global(batches: dict[str, dict], pattern_limit: int = 50) -> dict:
    """The global state of a set of batch states (keyed by batch)."""
    states = [batches[key] for key in sorted(batches)]
    statistics = _statistics_total(states)
    weighted = [
        (s["statistics"]["quality"]["mean"], s["statistics"]["spans"]["diamonds"])
        for s in states
        if s["statistics"]["quality"]["mean"] is not None
    ]
    diamonds = sum(n for _, n in weighted)
    statistics["quality_mean"] = (
        round(sum(m * n for m, n in weighted) / diamonds, 3) if diamonds else None
    )
    return {
        "version": KERNEL_VERSION,
        "batches": batches,
        "merkle_root": global_merkle_root({k: s["merkle_root"] for k, s in batches.items()}),
        "spans": sum(s["spans"] for s in states),
        "patterns": _merged_patterns(states, pattern_limit),
        "statistics": statistics,
        "recommendations": recommendations(statistics) if states else [],
    }


def merge_kernel_states(*states: dict) -> dict:
    """Merge global and/or batch states into one global state (associative, idempotent)."""
    batches: dict[str, dict] = {}
    for state in states:
        members = state["batches"].values() if "batches" in state else [state]
        for member in members:
            member = _without_archive(member)
            key = member["batch"]
            batches[key] = _newer(batches[key], member) if key in batches else member
    return derive_global(batches)
