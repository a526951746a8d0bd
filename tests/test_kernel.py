"""Kernel state logic: Merkle proofs, the ledger archive, patterns, statistics, merging."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from training_assets.kernel.ledger import (
    Ledger,
    LedgerError,
    batch_merkle_root,
    read_archive,
    span_content_hash,
    verify_archive,
    write_archive,
)
from training_assets.kernel.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    merkle_root,
    verify_inclusion,
)
from training_assets.kernel.state import (
    PatternParams,
    build_kernel_state,
    consolidate_patterns,
    merge_kernel_states,
)


def hashes(n: int) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]


def test_merkle_root_matches_rfc6962_recursive_definition():
    def reference(leaves: list[bytes]) -> bytes:  # RFC 6962 §2.1, written as the RFC does
        if len(leaves) == 1:
            return hashlib.sha256(b"\x00" + leaves[0]).digest()
        k = 1 << ((len(leaves) - 1).bit_length() - 1)
        return hashlib.sha256(b"\x01" + reference(leaves[:k]) + reference(leaves[k:])).digest()

    for n in range(1, 20):
        values = hashes(n)
        assert merkle_root(values) == reference([bytes.fromhex(v) for v in values]).hex()
    assert merkle_root([]) == EMPTY_ROOT


def test_every_leaf_has_a_proof_and_a_wrong_one_fails():
    for n in (1, 2, 3, 5, 8, 13):
        values = hashes(n)
        root = merkle_root(values)
        for i, value in enumerate(values):
            proof = inclusion_proof(values, i)
            assert verify_inclusion(value, i, n, proof, root)
            assert not verify_inclusion(hashes(n + 1)[-1], i, n, proof, root)
            if n > 1:
                assert not verify_inclusion(value, (i + 1) % n, n, proof, root)


def span_record(i: int, **overrides) -> dict:
    record = {
        "id": f"s{i:03d}",
        "who": "user",
        "did": "ask" if i % 2 else "answer",
        "this": f"question {i}",
        "if_ok": f"answer {i}",
        "status": "completed",
        "when": "2026-11-01T10:00:00+00:00",
        "environment": "python" if i % 3 else None,
        "quality_score": 80.0 + i % 20,
        "redactions": ["aws_access_key"] if i == 4 else [],
    }
    return record | overrides


def ledger(n: int = 12) -> Ledger:
    spans = [span_record(i) for i in range(n)]
    curated = [
        {"id": r["id"], "tags": ["programming"] if i % 2 else ["math"], "quality": 90.0}
        for i, r in enumerate(spans[:-2])
    ]
    return Ledger(
        batch="b-000",
        spans=spans,
        curated=curated,
        rejected=[{"id": spans[-1]["id"], "reason": "near_duplicate", "duplicate_of": "s000"}],
        quarantine=[{"line_number": 99, "category": "invalid_json", "reason": "Expecting value"}],
        reports={"diamonds_plus": {"enzymes": [], "redactions_by_kind": {"github_token": 1}}},
    )


def test_merkle_root_of_a_batch_ignores_row_order_but_not_content():
    spans = ledger().spans
    assert batch_merkle_root(spans) == batch_merkle_root(list(reversed(spans)))
    changed = [dict(r) for r in spans]
    changed[3]["if_ok"] += "!"
    assert batch_merkle_root(changed) != batch_merkle_root(spans)


def test_archive_round_trip_and_tamper_detection(tmp_path: Path):
    book = ledger()
    root = batch_merkle_root(book.spans)
    path = write_archive(book, tmp_path / "ledger-b-000.jsonl.gz", root, "2026-11-22T00:00:00")
    header, read_back = read_archive(path)
    assert header["counts"] == book.counts and read_back == book
    assert verify_archive(path, root) == book
    with pytest.raises(LedgerError, match="does not match"):
        verify_archive(path, "0" * 64)

    lines = gzip.decompress(path.read_bytes()).splitlines()
    first_span = json.loads(lines[1])
    first_span["this"] = "tampered"
    lines[1] = json.dumps(first_span).encode()
    tampered = tmp_path / "tampered.jsonl.gz"
    tampered.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(LedgerError, match="Merkle root"):
        verify_archive(tampered, root)
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(LedgerError, match="unreadable"):
        verify_archive(truncated, root)


def test_content_hash_is_canonical():
    assert span_content_hash({"a": 1, "b": "x"}) == span_content_hash({"b": "x", "a": 1})


def clustered_vectors(groups: int, per_group: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(groups, 32))
    points = np.repeat(centers, per_group, axis=0) + rng.normal(
        scale=0.05, size=(groups * per_group, 32)
    )
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_patterns_find_the_clusters_and_are_deterministic():
    vectors = clustered_vectors(groups=4, per_group=6)
    n = len(vectors)
    ids = [f"s{i:03d}" for i in range(n)]
    actions = ["answer"] * n
    environments = ["python"] * 12 + ["sql"] * 12
    tags = [["programming"]] * n
    patterns = consolidate_patterns(ids, actions, environments, tags, vectors)
    assert sorted(p.size for p in patterns) == [6, 6, 6, 6]
    assert {p.environment for p in patterns} == {"python", "sql"}
    assert all(p.confidence > 0.9 for p in patterns)
    assert patterns == consolidate_patterns(ids, actions, environments, tags, vectors)
    noise = np.random.default_rng(1).normal(size=(20, 32)).astype(np.float32)
    assert consolidate_patterns(ids[:20], actions[:20], environments[:20], tags[:20], noise) == []


def test_kernel_state_statistics_and_recommendations():
    book = ledger()
    vectors = clustered_vectors(groups=3, per_group=4)
    state = build_kernel_state(
        book, {r["id"]: v for r, v in zip(book.spans, vectors, strict=True)}, "2026-11-22T00:00"
    )
    stats = state["statistics"]
    assert state["merkle_root"] == batch_merkle_root(book.spans)
    assert stats["spans"] == {
        "lines": 13,
        "diamonds": 12,
        "quarantined": 1,
        "diamonds_plus": 10,
        "rejected": 1,
    }
    assert stats["redactions"] == {
        "validation": {"aws_access_key": 1},
        "security_enzyme": {"github_token": 1},
    }
    assert stats["domains"] == {"math": 5, "programming": 5}
    under = {
        r["subject"] for r in state["recommendations"] if r["kind"] == "under_represented_domain"
    }
    assert "law" in under and "math" not in under
    frequent = {
        r["subject"] for r in state["recommendations"] if r["kind"] == "frequent_rejection_reason"
    }
    assert frequent == {"invalid_json", "near_duplicate"}
    assert sum(p["size"] for p in state["patterns"]) == 12


def batch_state(batch: str, created: str, n: int = 6, seed: int = 0) -> dict:
    book = ledger(n)
    book = Ledger(batch, book.spans, book.curated, book.rejected, book.quarantine, book.reports)
    vectors = clustered_vectors(groups=2, per_group=n // 2, seed=seed)
    return build_kernel_state(
        book,
        {r["id"]: v for r, v in zip(book.spans, vectors, strict=True)},
        created,
        PatternParams(min_size=2),
    )


def test_merge_is_associative_commutative_and_idempotent():
    a, b, c = (batch_state(k, "2026-11-01", seed=i) for i, k in enumerate(("a", "b", "c")))
    left = merge_kernel_states(merge_kernel_states(a, b), c)
    right = merge_kernel_states(a, merge_kernel_states(b, c))
    assert left == right == merge_kernel_states(c, b, a)
    assert merge_kernel_states(left, b) == left
    assert merge_kernel_states(left, left) == left
    assert left["statistics"]["spans"]["diamonds"] == 18
    assert set(left["batches"]) == {"a", "b", "c"}


def test_a_batch_state_seen_twice_keeps_the_newer_either_way():
    old, new = batch_state("a", "2026-11-01"), batch_state("a", "2026-11-02", n=8)
    assert merge_kernel_states(old, new) == merge_kernel_states(new, old)
    assert merge_kernel_states(old, new)["batches"]["a"]["spans"] == 8


def test_global_root_changes_with_any_batch_root():
    a, b = batch_state("a", "2026-11-01"), batch_state("b", "2026-11-01")
    base = merge_kernel_states(a, b)["merkle_root"]
    b_changed = batch_state("b", "2026-11-01", n=8)
    assert merge_kernel_states(a, b_changed)["merkle_root"] != base
