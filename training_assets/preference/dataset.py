"""Preference examples from the feedback store: (prompt with its thread, answer, desirable
or not), rendered with the base tokenizer's chat template like `training_dataset`.

- **Label**: `positive` feedback is desirable and `negative` undesirable; a score that
  contradicts it (positive under 3 of 5, negative over 2) or `neutral` feedback makes the
  interaction no judgement at all (counted, not used).
- **Thread**: the interactions of the same session before this one, newest
  `context_turns` of them, are the conversation the answer was given in; an earlier
  answer to the same question (a regenerated answer) is an alternative, not a turn, so
  the two answers share a prompt and make a pair.
- **Deduplicated**: the same prompt and answer judged more than once is one example with
  the majority label; a tie is dropped as conflicting.
- **Split by prompt**: a SHA-256 of the rendered prompt puts every answer to one prompt
  on the same side (`heldout_fraction` of the prompts held out), so a pair never spans
  the split and the held-out margin is measured on prompts training never saw.
- **Pairs**: a prompt with both a desirable and an undesirable answer gives DPO pairs
  (each desirable with each undesirable, at most `max_pairs_per_prompt`).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from training_assets.training.dataset import render_prompt_and_answer


@dataclass
class PreferenceCounts:
    interactions: int = 0
    no_judgement: int = 0  # neutral, or a score that contradicts the thumb
    duplicates: int = 0  # the same prompt and answer judged again
    conflicting: int = 0  # judged both ways as often: dropped
    too_long: int = 0
    examples: int = 0
    by_label: Counter = field(default_factory=Counter)  # desirable / undesirable
    by_split: Counter = field(default_factory=Counter)
    pairs: Counter = field(default_factory=Counter)  # by split


def label(row: Mapping) -> bool | None:
    """True (desirable), False (undesirable) or None (no judgement)."""
    score = row.get("score")
    if row["feedback"] == "positive" and (score is None or score >= 3):
        return True
    if row["feedback"] == "negative" and (score is None or score <= 2):
        return False
    return None


def thread_messages(rows: list[Mapping], context_turns: int) -> dict[int, list[dict]]:
    """Each interaction's conversation so far: the session's earlier turns, then its query."""
    by_session: dict[str, list[Mapping]] = defaultdict(list)
    for row in rows:
        by_session[row.get("session") or f"single-{row['id']}"].append(row)
    messages = {}
    for turns in by_session.values():
        turns.sort(key=lambda r: (r["created_at"], r["id"]))
        for number, row in enumerate(turns):
            # the same question asked again (a regenerated answer) is an alternative to
            # this one, not an earlier turn of the conversation
            asked = [t for t in turns[:number] if t["query"] != row["query"]]
            earlier = asked[len(asked) - context_turns :] if context_turns else []
            conversation = []
            for turn in earlier:
                conversation.append({"role": "user", "content": turn["query"]})
                conversation.append({"role": "assistant", "content": turn["response"]})
            conversation.append({"role": "user", "content": row["query"]})
            messages[row["id"]] = conversation
    return messages


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def split_of_prompt(prompt_key: str, heldout_fraction: float) -> str:
    point = int(prompt_key[:16], 16) / 2**64
    return "heldout" if point >= 1.0 - heldout_fraction else "train"


def preference_table(
    rows: Iterable[Mapping],
    tokenizer,
    max_seq_len: int,
    heldout_fraction: float = 0.2,
    context_turns: int = 2,
) -> tuple[pl.DataFrame, PreferenceCounts]:
    """One row per (prompt, answer): id, split, prompt_key, desirable, messages,
    input_ids, prompt_tokens, feedback_ids."""
    rows = [dict(r) for r in rows]
    counts = PreferenceCounts(interactions=len(rows))
    threads = thread_messages(rows, context_turns)
    grouped: dict[tuple[str, str], dict] = {}
    for row in rows:
        verdict = label(row)
        if verdict is None:
            counts.no_judgement += 1
            continue
        prompt = threads[row["id"]]
        prompt_text = tokenizer.apply_chat_template(
            prompt, tokenize=False, add_generation_prompt=True
        )
        key = (_digest(prompt_text), row["response"])
        entry = grouped.setdefault(
            key, {"prompt": prompt, "response": row["response"], "votes": [], "ids": []}
        )
        if entry["votes"]:
            counts.duplicates += 1
        entry["votes"].append(verdict)
        entry["ids"].append(row["id"])
    records = []
    for (prompt_key, response), entry in sorted(grouped.items()):
        up = sum(entry["votes"])
        down = len(entry["votes"]) - up
        if up == down:
            counts.conflicting += 1
            continue
        messages = [*entry["prompt"], {"role": "assistant", "content": response}]
        prompt_ids, answer_ids = render_prompt_and_answer(tokenizer, messages)
        if len(prompt_ids) + len(answer_ids) > max_seq_len:
            counts.too_long += 1
            continue
        split = split_of_prompt(prompt_key, heldout_fraction)
        desirable = up > down
        records.append(
            {
                "id": _digest(prompt_key + "\n" + response)[:16],
                "split": split,
                "prompt_key": prompt_key[:16],
                "desirable": desirable,
                "messages": messages,
                "input_ids": prompt_ids + answer_ids,
                "prompt_tokens": len(prompt_ids),
                "feedback_ids": sorted(entry["ids"]),
            }
        )
        counts.by_label["desirable" if desirable else "undesirable"] += 1
        counts.by_split[split] += 1
    counts.examples = len(records)
    table = pl.DataFrame(
        records,
        schema={
            "id": pl.String,
            "split": pl.String,
            "prompt_key": pl.String,
            "desirable": pl.Boolean,
            "messages": pl.List(pl.Struct({"role": pl.String, "content": pl.String})),
            "input_ids": pl.List(pl.Int32),
            "prompt_tokens": pl.Int32,
            "feedback_ids": pl.List(pl.Int64),
        },
    )
    for split, pairs in preference_pairs(table).items():
        counts.pairs[split] = len(pairs)
    return table, counts


def preference_pairs(table: pl.DataFrame, max_pairs_per_prompt: int = 4) -> dict[str, list]:
    """{split: [(chosen row index, rejected row index), …]} for prompts answered both ways."""
    by_prompt: dict[str, dict[bool, list[int]]] = defaultdict(lambda: {True: [], False: []})
    splits = {}
    for index, (key, desirable, split) in enumerate(
        table.select("prompt_key", "desirable", "split").iter_rows()
    ):
        by_prompt[key][desirable].append(index)
        splits[key] = split
    pairs: dict[str, list] = defaultdict(list)
    for key, sides in sorted(by_prompt.items()):
        combos = [(c, r) for c in sides[True] for r in sides[False]]
        if combos:
            pairs[splits[key]] += combos[:max_pairs_per_prompt]
    return dict(pairs)
