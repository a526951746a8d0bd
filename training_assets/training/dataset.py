"""training_dataset: diamonds+ spans as chat examples tokenized with the base model's template.

An example is the span's thread context (the earlier turns the context-preserver
attached), then its own question and answer, rendered by the tokenizer's own chat
template. The loss covers the final assistant answer only (its tokens and the
template's end-of-turn tokens): the earlier answers are context here and examples of
their own elsewhere.

Length rule, applied in this order when an example is over `max_seq_len` tokens:
1. drop the oldest context turn, again until it fits or no context is left
   (`context_trimmed`);
2. if the prompt alone takes at most half of `max_seq_len`, cut the answer at the limit
   (`answer_truncated`; the cut answer has no end-of-turn token, so it does not teach
   the model to stop there);
3. otherwise drop the example (`dropped_prompt_too_long`).

Splits are by a hash of the span's thread (its id when it has none), so a conversation
falls wholly on one side and an example keeps its split as data grows: `golden` (the
lowest points: a share, and at least `golden_min_examples` while the data allows; scored
on generations), `validation` (the highest points), `train` (the rest). As data grows,
the golden share only shrinks towards its fraction, so an example can leave the held-out
sets for train, never the other way. Held-out examples with a near-duplicate in train
move to train (`heldout.py`), counted by reason.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from training_assets.lm import IGNORE_INDEX
from training_assets.training.heldout import contaminated

SPLITS = ("train", "validation", "golden")
# the golden share never takes more than this, whatever golden_min_examples asks
MAX_GOLDEN_SHARE = 0.25


class ChatTemplateError(ValueError):
    """The tokenizer's chat template cannot separate a prompt from its answer."""


@dataclass(frozen=True)
class TokenizedExample:
    id: str
    split: str
    messages: list[dict]
    input_ids: list[int]
    prompt_tokens: int  # the first prompt_tokens ids carry no loss
    context_turns: int
    answer_truncated: bool


@dataclass
class DatasetCounts:
    spans: int = 0
    examples: int = 0
    context_trimmed: int = 0
    answer_truncated: int = 0
    dropped_prompt_too_long: int = 0
    by_split: Counter = field(default_factory=Counter)
    heldout_moved: Counter = field(default_factory=Counter)  # reason -> moved to train
    golden_cut: float = 0.0


def split_key(span: Mapping) -> str:
    """What the split hashes: the thread, so a conversation stays on one side."""
    return span.get("thread_id") or span["id"]


def split_point(key: str) -> float:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def split_of(key: str, validation_fraction: float, golden_cut: float) -> str:
    point = split_point(key)
    if point < golden_cut:
        return "golden"
    if point >= 1.0 - validation_fraction:
        return "validation"
    return "train"


def golden_cut_for(points: list[float], golden_fraction: float, golden_min_examples: int) -> float:
    """The golden split's upper point: `golden_fraction`, raised until at least
    `golden_min_examples` examples fall below it, never above MAX_GOLDEN_SHARE."""
    cut = golden_fraction
    if golden_min_examples > 0 and points:
        ordered = sorted(points)
        wanted = ordered[min(golden_min_examples, len(ordered)) - 1]
        cut = max(cut, math.nextafter(wanted, 1.0))
    return min(cut, MAX_GOLDEN_SHARE)


def span_messages(span: dict, context_turns: int | None = None) -> list[dict]:
    """The span as chat messages; `context_turns` keeps only the newest that many turns."""
    context = list(span.get("context") or [])
    if context_turns is not None:
        context = context[len(context) - context_turns :] if context_turns else []
    messages = [{"role": "system", "content": span["system"]}] if span.get("system") else []
    for turn in context:
        messages.append({"role": "user", "content": turn["this"]})
        messages.append({"role": "assistant", "content": turn["if_ok"]})
    messages.append({"role": "user", "content": span["this"]})
    messages.append({"role": "assistant", "content": span["if_ok"]})
    return messages


def render_prompt_and_answer(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids of the prompt (all but the last message, plus the generation prompt) and
    of the rest of the rendered conversation (the answer and its end-of-turn tokens)."""
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ChatTemplateError(
            "the chat template renders the conversation so that the prompt is not a prefix "
            "of the full text; the answer's tokens cannot be told apart for the loss mask"
        )
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
    return prompt_ids, answer_ids


def chat_prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of a conversation rendered up to the assistant's turn."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def tokenize_span(
    tokenizer, span: dict, split: str, max_seq_len: int, counts: DatasetCounts
) -> TokenizedExample | None:
    turns = len(span.get("context") or [])
    trimmed = False
    while True:
        messages = span_messages(span, turns)
        prompt_ids, answer_ids = render_prompt_and_answer(tokenizer, messages)
        if len(prompt_ids) + len(answer_ids) <= max_seq_len or turns == 0:
            break
        turns -= 1
        trimmed = True
    counts.context_trimmed += trimmed
    truncated = False
    if len(prompt_ids) + len(answer_ids) > max_seq_len:
        if len(prompt_ids) > max_seq_len // 2:
            counts.dropped_prompt_too_long += 1
            return None
        answer_ids = answer_ids[: max_seq_len - len(prompt_ids)]
        truncated = True
        counts.answer_truncated += 1
    return TokenizedExample(
        id=span["id"],
        split=split,
        messages=messages,
        input_ids=prompt_ids + answer_ids,
        prompt_tokens=len(prompt_ids),
        context_turns=turns,
        answer_truncated=truncated,
    )


def build_examples(
    tokenizer,
    spans: Iterable[dict],
    max_seq_len: int,
    validation_fraction: float,
    golden_fraction: float,
    golden_min_examples: int = 0,
    vectors: Mapping | None = None,
) -> tuple[list[TokenizedExample], DatasetCounts]:
    """Tokenized examples of `spans` with their splits; `vectors` (span id -> unit
    vector) lets the held-out check find near-duplicates by cosine too."""
    counts = DatasetCounts()
    tokenized, kept = [], {}
    for span in spans:
        counts.spans += 1
        example = tokenize_span(tokenizer, span, "train", max_seq_len, counts)
        if example is not None:
            tokenized.append(example)
            kept[example.id] = span
    points = {e.id: split_point(split_key(kept[e.id])) for e in tokenized}
    wanted = golden_min_examples
    # a golden example with a near-duplicate in train moves to train; ask for as many
    # more as moved (twice at most) so the golden set still reaches its minimum
    for _ in range(3):
        cut = golden_cut_for(list(points.values()), golden_fraction, wanted)
        examples = [
            replace(e, split=split_of(split_key(kept[e.id]), validation_fraction, cut))
            for e in tokenized
        ]
        heldout = [kept[e.id] for e in examples if e.split != "train"]
        train = [kept[e.id] for e in examples if e.split == "train"]
        moved = contaminated(heldout, train, vectors)
        examples = [replace(e, split="train") if e.id in moved else e for e in examples]
        golden = sum(e.split == "golden" for e in examples)
        if golden >= golden_min_examples or cut >= MAX_GOLDEN_SHARE or not golden_min_examples:
            break
        wanted += golden_min_examples - golden
    counts.golden_cut = cut
    counts.heldout_moved.update(moved.values())
    counts.by_split.update(e.split for e in examples)
    counts.examples = len(examples)
    return examples, counts


def labels_for(input_ids: list[int], prompt_tokens: int) -> list[int]:
    return [IGNORE_INDEX] * prompt_tokens + list(input_ids[prompt_tokens:])


def length_histogram(lengths: Iterable[int], max_seq_len: int, bins: int = 8) -> list[tuple]:
    """(low, high, count) rows over [0, max_seq_len] in equal-width bins."""
    width = max(1, -(-max_seq_len // bins))
    counts = Counter(min(length // width, bins - 1) for length in lengths)
    return [(b * width, min((b + 1) * width, max_seq_len), counts.get(b, 0)) for b in range(bins)]


SPAN_COLUMNS = ["id", "batch", "thread_id", "system", "this", "if_ok", "context"]


def read_spans(tables: dict) -> tuple[pl.DataFrame, int]:
    """The diamonds+ spans of every batch table that exists (batch -> path, local or a
    UPath), sorted by id, and how many tables there were. `thread_id` is null where a
    table has none."""
    frames = [pl.scan_parquet(str(path)) for path in tables.values() if path.exists()]
    if not frames:
        return pl.DataFrame(), 0
    selected = []
    for frame in frames:
        names = frame.collect_schema().names()
        selected.append(
            frame.select(
                pl.col(c) if c in names else pl.lit(None, dtype=pl.String).alias(c)
                for c in SPAN_COLUMNS
            )
        )
    spans = pl.concat(selected).collect().sort("id")
    return spans, len(frames)


def read_span_vectors(tables: dict, ids: set[str]) -> dict:
    """id -> span vector (span_embeddings' `combined_vec`) of `ids`, from every batch
    table that exists (batch -> path)."""
    vectors = {}
    for path in tables.values():
        if not path.exists():
            continue
        frame = (
            pl.scan_parquet(str(path))
            .select("id", "combined_vec")
            .filter(pl.col("id").is_in(list(ids)))
            .collect()
        )
        matrix = frame["combined_vec"].to_numpy()
        vectors.update(zip(frame["id"].to_list(), matrix, strict=True))
    return vectors


def examples_fingerprint(table: pl.DataFrame, columns: tuple[str, ...]) -> str:
    """A digest of exactly a table's examples: per row (by id) the `columns` and the token
    ids. A run resumes only on the same fingerprint, so every column that changes what
    the run learns (split, prompt cut, label) belongs in `columns`."""
    digest = hashlib.sha256()
    for *values, ids in table.sort("id").select(*columns, "input_ids").iter_rows():
        digest.update("".join(f"{value}|" for value in values).encode())
        digest.update(np.asarray(ids, dtype=np.int32).tobytes())
    return digest.hexdigest()[:16]


def dataset_table(examples: list[TokenizedExample], spans: pl.DataFrame) -> pl.DataFrame:
    """The `training_dataset` table: one row per example, with the batch it came from."""
    return pl.DataFrame(
        {
            "id": [e.id for e in examples],
            "split": [e.split for e in examples],
            "messages": [e.messages for e in examples],
            "input_ids": [e.input_ids for e in examples],
            "prompt_tokens": [e.prompt_tokens for e in examples],
            "tokens": [len(e.input_ids) for e in examples],
            "answer": [e.messages[-1]["content"] for e in examples],
            "context_turns": [e.context_turns for e in examples],
            "answer_truncated": [e.answer_truncated for e in examples],
        },
        schema_overrides={
            "input_ids": pl.List(pl.Int32),
            "prompt_tokens": pl.Int32,
            "tokens": pl.Int32,
        },
    ).join(spans.select("id", "batch"), on="id", how="left")
