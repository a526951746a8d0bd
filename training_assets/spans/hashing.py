"""A span's content hash: its question and answer, lower-cased with whitespace collapsed,
so the same exchange hashes the same whatever batch or format it came in (enrichment
writes it; diamonds+ drops exact duplicates by it)."""

from __future__ import annotations

import hashlib
import re

_SPACE = re.compile(r"\s+")


def content_hash(question: str | None, answer: str | None) -> str:
    normalised = "\0".join(_SPACE.sub(" ", (t or "").lower()).strip() for t in (question, answer))
    return hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()[:32]
