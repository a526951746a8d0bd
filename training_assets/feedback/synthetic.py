"""Self-generated data for domains the data lacks: prompts drawn from the diamonds+ of
under-represented domains, answered by the current best model, kept as spans marked
`origin=synthetic` with a lower starting quality, unless they nearly repeat what the data
already holds. They land like any file and face the same validation and gate."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

DEFAULT_CAP = 32
DEFAULT_QUALITY = 80.0  # the diamond threshold: synthetic data starts at the bottom of it
DEFAULT_NEAR_DUPLICATE = 0.95


def under_represented_domains(global_kernel: dict) -> list[str]:
    """Rarest first, from the global kernel state's recommendations."""
    advice = [
        a
        for a in global_kernel.get("recommendations", [])
        if a["kind"] == "under_represented_domain"
    ]
    return [a["subject"] for a in sorted(advice, key=lambda a: (a["count"], a["subject"]))]


@dataclass(frozen=True)
class SyntheticPrompt:
    source_id: str
    domain: str
    question: str


def pick_prompts(
    rows: Iterable[dict], domains: Sequence[str], cap: int, seed: int = 0
) -> list[SyntheticPrompt]:
    """Up to `cap` distinct questions, taken from each domain in turn (rarest domain first);
    within a domain, a seeded shuffle."""
    by_domain: dict[str, list[dict]] = {d: [] for d in domains}
    for row in rows:
        for tag in row.get("tags") or []:
            if tag in by_domain:
                by_domain[tag].append(row)
    rng = np.random.default_rng(seed)
    queues = {
        d: [members[i] for i in rng.permutation(len(members))] for d, members in by_domain.items()
    }
    picked, seen = [], set()
    while len(picked) < cap and any(queues.values()):
        for domain in domains:
            while queues[domain] and len(picked) < cap:
                row = queues[domain].pop()
                question = row["this"].strip()
                if question and question not in seen:
                    seen.add(question)
                    picked.append(SyntheticPrompt(row["id"], domain, question))
                    break
    return picked


def synthetic_span(
    prompt: SyntheticPrompt, answer: str, model_version: str, quality: float, when: datetime
) -> dict:
    digest = hashlib.sha256(f"{prompt.question}\0{answer}".encode()).hexdigest()[:16]
    return {
        "id": f"synthetic-{digest}",
        "who": "model",
        "did": "chat",
        "this": prompt.question,
        "if_ok": answer,
        "when": when.astimezone(UTC).isoformat(),
        "status": "completed",
        "context": {"environment": prompt.domain},
        "metadata": {
            "quality_score": quality,
            "origin": "synthetic",
            "source_span": prompt.source_id,
            "model_version": model_version,
        },
    }


def near_duplicates(similarity_to_known: np.ndarray, threshold: float) -> np.ndarray:
    """Which candidates are near-duplicates of data already indexed (best cosine ≥ threshold)."""
    if similarity_to_known.size == 0:
        return np.zeros(len(similarity_to_known), dtype=bool)
    return similarity_to_known.max(axis=1) >= threshold


@dataclass(frozen=True)
class Answered:
    texts: list[str]
    near_duplicate: np.ndarray  # bool: nearly repeats an indexed span
    unfinished: np.ndarray  # bool: cut off at max_new_tokens (or empty), not one to learn from
    seconds: float  # spent generating


def answer_prompts(
    prompts: Sequence[SyntheticPrompt],
    checkpoint: str,
    base_model,
    embedder,
    index_dir: Path,
    max_new_tokens: int,
    near_duplicate_similarity: float,
) -> Answered:
    """The checkpoint's greedy answers to `prompts`, and which of them to drop: those whose
    question+answer vector nearly repeats a span of the index, and those cut off.
    `base_model` is a BaseModelResource, `embedder` an Embedder."""
    from peft import PeftModel

    from training_assets.embedding.encoder import combine
    from training_assets.indexing.hnsw import open_span_index
    from training_assets.lm.generation import generate_answers
    from training_assets.training.config import resolve_hardware
    from training_assets.training.dataset import chat_prompt_ids

    tokenizer = base_model.tokenizer()
    device = resolve_hardware("auto", "auto").device
    model = PeftModel.from_pretrained(base_model.causal_lm(), checkpoint).to(device)
    started = time.perf_counter()
    answers = generate_answers(
        model,
        tokenizer,
        [chat_prompt_ids(tokenizer, [{"role": "user", "content": p.question}]) for p in prompts],
        max_new_tokens,
        device,
    )
    seconds = time.perf_counter() - started
    texts = [a.text for a in answers]
    vectors = combine(embedder.encode([p.question for p in prompts])[0], embedder.encode(texts)[0])
    index = open_span_index(index_dir)
    if index is not None:
        _, similarity = index.search(vectors.astype(np.float32), 1)
    else:
        similarity = np.empty((len(prompts), 0), np.float32)
    return Answered(
        texts,
        near_duplicates(similarity, near_duplicate_similarity),
        np.array([not a.stopped or not a.text.strip() for a in answers]),
        seconds,
    )
