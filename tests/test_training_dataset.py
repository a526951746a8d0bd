"""training_dataset logic: chat rendering, the loss mask, splits, the length rule, packing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_assets.lm.batches import collate
from training_assets.training.batches import pack_rows, packed_batches, padded_batches
from training_assets.training.dataset import (
    IGNORE_INDEX,
    MAX_GOLDEN_SHARE,
    DatasetCounts,
    build_examples,
    golden_cut_for,
    labels_for,
    split_of,
    split_point,
    tokenize_span,
)
from training_assets.training.heldout import contaminated


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def _span(**overrides) -> dict:
    return {
        "id": "s1",
        "system": None,
        "this": "What is 2+2?",
        "if_ok": "It is 4.",
        "context": [],
        **overrides,
    }


def test_loss_is_on_the_final_answer_only_and_the_template_is_the_tokenizers(tokenizer):
    span = _span(context=[{"this": "Hello there", "if_ok": "Hi! How can I help?"}])
    example = tokenize_span(tokenizer, span, "train", 512, DatasetCounts())
    rendered = tokenizer.apply_chat_template(example.messages, tokenize=False)
    assert tokenizer.decode(example.input_ids) == rendered
    labels = labels_for(example.input_ids, example.prompt_tokens)
    answer = tokenizer.decode([t for t in labels if t != IGNORE_INDEX])
    assert answer.startswith("It is 4.<|im_end|>")
    prompt = tokenizer.decode(example.input_ids[: example.prompt_tokens])
    assert "Hi! How can I help?" in prompt and "It is 4." not in prompt
    assert [m["role"] for m in example.messages] == ["user", "assistant", "user", "assistant"]


def test_splits_are_a_stable_function_of_the_thread():
    keys = [f"thread-{i}" for i in range(4000)]
    first = [split_of(k, 0.05, 0.02) for k in keys]
    assert first == [split_of(k, 0.05, 0.02) for k in keys]
    share = {s: first.count(s) / len(keys) for s in ("train", "validation", "golden")}
    assert 0.035 < share["validation"] < 0.065 and 0.01 < share["golden"] < 0.03
    # a larger golden share takes train examples only; validation stays as it was
    grown = [split_of(k, 0.05, 0.03) for k in keys]
    for before, after in zip(first, grown, strict=True):
        assert after == before or (before == "train" and after == "golden")


def test_the_golden_share_grows_to_the_minimum_and_shrinks_back_as_data_grows():
    points = [split_point(f"thread-{i}") for i in range(1000)]
    cut = golden_cut_for(points, 0.02, 64)
    assert sum(p < cut for p in points) == 64
    more = points + [split_point(f"thread-{i}") for i in range(1000, 20000)]
    assert golden_cut_for(more, 0.02, 64) == 0.02  # 2 % of 20k is already ≥ 64
    assert golden_cut_for(points[:40], 0.02, 64) == MAX_GOLDEN_SHARE  # never all held out


def test_a_thread_falls_wholly_on_one_side(tokenizer):
    spans = [
        _span(id=f"t{t}-s{s}", thread_id=f"t{t}", this=f"question {t} {s}")
        for t in range(60)
        for s in range(4)
    ]
    examples, counts = build_examples(tokenizer, spans, 256, 0.1, 0.05, golden_min_examples=16)
    by_thread = {}
    for example in examples:
        by_thread.setdefault(example.id.split("-")[0], set()).add(example.split)
    assert all(len(splits) == 1 for splits in by_thread.values())
    assert counts.by_split["golden"] >= 16


def test_heldout_near_duplicates_of_train_move_to_train():
    shared = " ".join(f"w{i}" for i in range(20))  # a 20-word run, longer than NGRAM
    train = [
        {"id": "t1", "this": "How do I sort a list in Python?", "if_ok": "Use sorted()."},
        {"id": "t2", "this": "Tell me a story", "if_ok": f"Once upon a time {shared} the end"},
        {"id": "t3", "this": "What is rust?", "if_ok": "A language."},
    ]
    heldout = [
        {"id": "h1", "this": "how do I sort a list in python", "if_ok": "sorted(x)"},
        {"id": "h2", "this": "Another story please", "if_ok": f"Here: {shared}!"},
        {"id": "h3", "this": "What is go?", "if_ok": "Another language."},
        {"id": "h4", "this": "Something unrelated", "if_ok": "Nothing in common at all."},
    ]
    vectors = {
        "t3": np.array([1.0, 0.0]),
        "h3": np.array([0.99, 0.141]),
        "h4": np.array([0.0, 1.0]),
    }
    found = contaminated(heldout, train, vectors)
    assert found == {"h1": "same_prompt", "h2": "ngram", "h3": "cosine"}
    # a 12-word overlap is not enough
    short = " ".join(shared.split()[:12])
    assert contaminated([{"id": "h", "this": "x", "if_ok": short}], train) == {}


def test_build_examples_counts_heldout_examples_moved_to_train(tokenizer):
    spans = [_span(id=f"s{i}", this=f"unique question number {i}") for i in range(200)]
    spans += [_span(id=f"d{i}", this=f"unique question number {i}") for i in range(200)]
    examples, counts = build_examples(tokenizer, spans, 256, 0.1, 0.05)
    heldout = {e.id for e in examples if e.split != "train"}
    train_prompts = {e.messages[-2]["content"] for e in examples if e.split == "train"}
    assert counts.heldout_moved["same_prompt"] > 0
    assert not any(e.messages[-2]["content"] in train_prompts for e in examples if e.id in heldout)


def test_length_rule_trims_context_then_truncates_the_answer_then_drops(tokenizer):
    long_turns = [{"this": "word " * 60, "if_ok": "word " * 60} for _ in range(3)]
    counts = DatasetCounts()
    trimmed = tokenize_span(tokenizer, _span(context=long_turns), "train", 200, counts)
    assert trimmed.context_turns < 3 and len(trimmed.input_ids) <= 200
    assert counts.context_trimmed == 1 and not trimmed.answer_truncated

    cut = tokenize_span(tokenizer, _span(if_ok="answer " * 400), "train", 200, counts)
    assert cut.answer_truncated and len(cut.input_ids) == 200 and counts.answer_truncated == 1

    dropped = tokenize_span(tokenizer, _span(this="question " * 250), "train", 200, counts)
    assert dropped is None and counts.dropped_prompt_too_long == 1


def test_build_examples_counts_every_span(tokenizer):
    spans = [_span(id=f"s{i}") for i in range(50)] + [_span(id="long", this="q " * 900)]
    examples, counts = build_examples(tokenizer, spans, 256, 0.1, 0.1)
    assert counts.spans == 51 and counts.examples == 50 == len(examples)
    assert counts.dropped_prompt_too_long == 1 and sum(counts.by_split.values()) == 50


def test_packing_fills_rows_without_overflow_and_keeps_every_example():
    lengths = [5, 9, 3, 12, 7, 7, 1, 16, 4, 2]
    rows = pack_rows(lengths, list(range(len(lengths))), 16)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 16 for row in rows)
    assert len(rows) == -(-sum(lengths) // 16)  # best fit reaches the minimum here
    batches = packed_batches(lengths, 16, 2, seed=3, epoch=0)
    assert batches == packed_batches(lengths, 16, 2, seed=3, epoch=0)
    padded = padded_batches(lengths, 3, seed=3, epoch=1)
    assert sorted(i for b in padded for row in b for i in row) == list(range(len(lengths)))


@pytest.mark.parametrize("attention", ["sdpa", "segment_sdpa"])
def test_a_packed_row_gives_the_same_loss_as_its_examples_apart(tiny_model_dir, attention):
    """No attention across packed examples: stock SDPA turns the restarting position ids
    into a block-diagonal mask; segment_sdpa runs each example on its own."""
    from training_assets.training.packed_attention import use_segment_attention

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    if attention == "segment_sdpa":
        assert use_segment_attention(model)
    ids = [[5, 17, 230, 41, 9, 77], [300, 12, 8, 90], [44, 45, 46, 47, 48]]
    prompts = [2, 1, 3]

    def loss_sum(batch):
        labels = batch.pop("labels")
        logits = model(**batch, use_cache=False).logits
        return torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2),
            labels[:, 1:],
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )

    with torch.no_grad():
        packed = loss_sum(collate([[0, 1], [2]], ids, prompts, 0, packed=True))
        apart = sum(loss_sum(collate([[i]], ids, prompts, 0, packed=False)) for i in range(3))
        padded = loss_sum(collate([[0], [1], [2]], ids, prompts, 0, packed=False))
    assert torch.allclose(packed, apart, atol=1e-4)
    assert torch.allclose(padded, apart, atol=1e-4)


def test_the_head_only_at_answer_positions_gives_the_full_forward_loss(tiny_model_dir):
    from training_assets.lm.losses import answer_nll

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    ids = [[5, 17, 230, 41, 9, 77], [300, 12, 8, 90]]
    batch = collate([[0], [1]], ids, [2, 1], 0, packed=False)
    labels = batch.pop("labels")
    with torch.no_grad():
        nll, rows = answer_nll(model, batch, labels)
        logits = model(**batch, use_cache=False).logits
        full = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2),
            labels[:, 1:],
            ignore_index=IGNORE_INDEX,
            reduction="none",
        )
    assert rows.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert torch.allclose(nll.sum(), full.sum(), atol=1e-4)
    assert torch.allclose(nll[rows == 1].sum(), full[1].sum(), atol=1e-4)
