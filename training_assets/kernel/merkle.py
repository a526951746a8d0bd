"""Merkle roots and inclusion proofs over span content hashes (RFC 6962 tree hashing).

Leaves and inner nodes are hashed with different prefixes (0x00, 0x01), and a tree of n
leaves splits at the largest power of two below n, so no two different leaf lists share a
root and an odd leaf is never duplicated. A proof is the list of sibling hashes from the
leaf up; anyone with the root, the leaf and the proof can check membership.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def leaf_hash(content_hash: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(content_hash)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(leaves: Sequence[bytes]) -> bytes:
    # Iterative over levels: pairing neighbours left to right and carrying an odd last
    # node up unchanged gives the same tree as RFC 6962's recursive split.
    level = list(leaves)
    while len(level) > 1:
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def merkle_root(content_hashes: Sequence[str]) -> str:
    """Hex root over hex content hashes, in the order given (callers sort them)."""
    if not content_hashes:
        return EMPTY_ROOT
    return _root([leaf_hash(h) for h in content_hashes]).hex()


def inclusion_proof(content_hashes: Sequence[str], index: int) -> list[str]:
    """Sibling hashes (hex) from leaf `index` up to the root."""
    if not 0 <= index < len(content_hashes):
        raise IndexError(f"leaf {index} of {len(content_hashes)}")
    proof: list[str] = []
    leaves = [leaf_hash(h) for h in content_hashes]
    lo, hi = 0, len(leaves)
    path: list[tuple[int, int, bool]] = []  # (sibling lo, sibling hi, sibling is right)
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append((mid, hi, True))
            hi = mid
        else:
            path.append((lo, mid, False))
            lo = mid
    for sibling_lo, sibling_hi, _ in reversed(path):
        proof.append(_root(leaves[sibling_lo:sibling_hi]).hex())
    return proof


def verify_inclusion(
    content_hash: str, index: int, size: int, proof: Sequence[str], root: str
) -> bool:
    """Whether leaf `index` of a `size`-leaf tree with this root holds `content_hash`."""
    if not 0 <= index < size:
        return False
    sides: list[bool] = []  # per level from the top: is the sibling on the right?
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        sides.append(index < mid)
        lo, hi = (lo, mid) if index < mid else (mid, hi)
    if len(sides) != len(proof):
        return False
    node = leaf_hash(content_hash)
    for sibling, sibling_is_right in zip(proof, reversed(sides), strict=True):
        other = bytes.fromhex(sibling)
        node = _node(node, other) if sibling_is_right else _node(other, node)
    return node.hex() == root
