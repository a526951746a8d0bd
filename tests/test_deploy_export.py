"""GGUF export: the rotary permutation, a round trip through transformers' GGUF loader,
the LoRA adapter layout llama.cpp expects."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_assets.deploy.gguf_export import (
    LlamaShape,
    export_lora_adapter,
    export_model,
    hf_metadata,
    rotary_permute,
)
from training_assets.deploy.merge import (
    LOGIT_TOLERANCE,
    llama_shape,
    load_gguf_model,
    logit_agreement,
)
from training_assets.training.dataset import chat_prompt_ids


def test_rotary_permute_interleaves_the_two_halves_of_each_head():
    heads, head_dim, columns = 2, 4, 3
    weight = np.arange(heads * head_dim * columns, dtype=np.float32).reshape(
        heads * head_dim, columns
    )
    permuted = rotary_permute(weight, heads)
    for head in range(heads):
        rows = weight[head * head_dim : (head + 1) * head_dim]
        first, second = rows[: head_dim // 2], rows[head_dim // 2 :]
        expected = np.stack([first, second], axis=1).reshape(head_dim, columns)  # r0, r2, r1, r3
        assert np.array_equal(permuted[head * head_dim : (head + 1) * head_dim], expected)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return (
        AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval(),
        AutoTokenizer.from_pretrained(str(tiny_model_dir)),
    )


@pytest.mark.parametrize("outtype", ["f16", "q8_0"])
def test_exported_gguf_reads_back_with_the_same_next_token_logits(tiny, tmp_path, outtype):
    model, tokenizer = tiny
    target = export_model(
        {k: v.numpy() for k, v in model.state_dict().items()},
        llama_shape(model.config),
        hf_metadata(model.config, tokenizer),
        tmp_path / "model.gguf",
        "tiny",
        outtype,
    )
    reader = gguf.GGUFReader(str(target))
    assert reader.fields["tokenizer.chat_template"].contents() == tokenizer.chat_template
    assert reader.fields["general.name"].contents() == "tiny"
    assert "output.weight" not in {t.name for t in reader.tensors}  # tied embeddings
    prompt = chat_prompt_ids(tokenizer, [{"role": "user", "content": "Hi there"}])
    agreement = logit_agreement(model, load_gguf_model(target), prompt, outtype)
    assert agreement.ok, agreement
    assert agreement.max_abs_diff <= LOGIT_TOLERANCE[outtype]
    assert not list(tmp_path.glob(".*.tmp"))


def test_lora_adapter_gguf_has_llama_cpp_names_types_and_permuted_b(tiny, tmp_path):
    model, _ = tiny
    torch.manual_seed(1)
    peft_model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model.name_or_path),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    )
    from peft import get_peft_model_state_dict

    weights = {k: v.detach().numpy() for k, v in get_peft_model_state_dict(peft_model).items()}
    target = export_lora_adapter(
        weights, 8, llama_shape(model.config), tmp_path / "adapter.gguf", "tiny-lora"
    )
    reader = gguf.GGUFReader(str(target))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.type"].contents() == "lora"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    tensors = {t.name: t for t in reader.tensors}
    assert {
        "blk.0.attn_q.weight.lora_a",
        "blk.0.attn_q.weight.lora_b",
        "blk.1.attn_v.weight.lora_b",
    } <= tensors.keys()
    q_b = next(v for k, v in weights.items() if "layers.0.self_attn.q_proj.lora_B" in k)
    stored = np.asarray(tensors["blk.0.attn_q.weight.lora_b"].data).reshape(q_b.shape)
    assert np.array_equal(stored, rotary_permute(q_b, model.config.num_attention_heads))
    v_b = next(v for k, v in weights.items() if "layers.0.self_attn.v_proj.lora_B" in k)
    assert np.array_equal(
        np.asarray(tensors["blk.0.attn_v.weight.lora_b"].data).reshape(v_b.shape), v_b
    )


def test_a_shape_is_read_from_the_config(tiny):
    model, _ = tiny
    assert llama_shape(model.config) == LlamaShape(4, 2, 2)
