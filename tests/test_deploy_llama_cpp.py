"""llama.cpp loads an exported GGUF and answers as transformers does (greedy, same first
tokens). Needs the optional extra: `.venv/bin/pip install -e '.[llama]'` (llama-cpp-python
builds from source, about four minutes here)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_llama_cpp_answers_a_golden_prompt_like_transformers(tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    import torch

    from training_assets.base_model.locate import (
        BUNDLED_BASE_MODEL,
        load_causal_lm,
        load_tokenizer,
        locate_base_model,
    )
    from training_assets.deploy.gguf_export import base_metadata, export_model
    from training_assets.deploy.merge import llama_shape
    from training_assets.training.dataset import chat_prompt_ids

    location = locate_base_model(BUNDLED_BASE_MODEL)
    tokenizer = load_tokenizer(location, tmp_path / "models")
    model = load_causal_lm(location, tmp_path / "models").eval()
    target = export_model(
        {k: v.numpy() for k, v in model.state_dict().items()},
        llama_shape(model.config),
        base_metadata(Path(location.path) / location.gguf_file),
        tmp_path / "model.gguf",
        "parity",
        "f16",
    )
    prompt = chat_prompt_ids(
        tokenizer, [{"role": "user", "content": "What is the capital of France?"}]
    )
    with torch.no_grad():
        expected = model.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False)[
            0, len(prompt) :
        ].tolist()
    llm = llama_cpp.Llama(model_path=str(target), n_ctx=512, verbose=False, logits_all=False)
    got = []
    for token in llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0):
        got.append(token)
        if len(got) == len(expected):
            break
    assert got[:4] == expected[:4], (tokenizer.decode(got), tokenizer.decode(expected))
