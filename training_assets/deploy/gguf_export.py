"""Write a merged Llama-family model, or a LoRA adapter, as GGUF with the `gguf` library.

The metadata of the base model's own GGUF (architecture hyper-parameters, the whole
tokenizer, the chat template) is copied as it is, so llama.cpp and Ollama tokenize and
template exactly as the base does; only the name and the file type change. Tensor names
come from gguf's `TensorNameMap`. Hugging Face stores the q and k projections with
their rotary halves de-interleaved; llama.cpp expects them interleaved per head, so
those rows are permuted on the way out (transformers' GGUF loader undoes the same
permutation, which the round-trip test relies on).

Weights of two or more dimensions are written as F16 or Q8_0; norms stay F32.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training_assets.atomic import atomic_path

OUTTYPES = ("f16", "q8_0")
_SKIPPED_KEYS = {
    "general.architecture",
    "general.type",
    "general.name",
    "general.file_type",
    "general.quantization_version",
}


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class LlamaShape:
    n_head: int
    n_head_kv: int
    n_blocks: int


def rotary_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """Rows of a q/k projection from HF's half-split rotary layout to llama.cpp's
    interleaved one: within each head, row pairs (i, i + d/2) become (2i, 2i + 1)."""
    rows = weight.shape[0]
    head_dim = rows // heads
    return (
        weight.reshape(heads, 2, head_dim // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


Field = tuple[str, object, list]  # key, value, value types (as GGUFReader reports them)


def base_metadata(base_gguf: Path) -> tuple[str, list[Field]]:
    """(architecture, fields) of the base's GGUF file, minus the keys an export rewrites."""
    import gguf

    reader = gguf.GGUFReader(str(base_gguf))
    arch = reader.fields["general.architecture"].contents()
    fields = [
        (name, field.contents(), field.types)
        for name, field in reader.fields.items()
        if not name.startswith("GGUF.") and name not in _SKIPPED_KEYS
    ]
    return arch, fields


def hf_metadata(config, tokenizer) -> tuple[str, list[Field]]:
    """The same fields for a base that is not a GGUF file: hyper-parameters from its
    config, the vocabulary, merges, special tokens and chat template from its tokenizer
    (a byte-level BPE `tokenizer.json`, as Llama-family models ship)."""
    import json

    from gguf import GGUFValueType as T

    if config.model_type != "llama":
        raise ExportError(
            f"only llama-architecture bases are exported, this one is {config.model_type!r}"
        )
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope_theta = getattr(config, "rope_theta", None) or (
        getattr(config, "rope_parameters", None) or {}
    ).get("rope_theta", 10000.0)
    u32, f32 = [T.UINT32], [T.FLOAT32]
    fields: list[Field] = [
        ("llama.context_length", config.max_position_embeddings, u32),
        ("llama.embedding_length", config.hidden_size, u32),
        ("llama.block_count", config.num_hidden_layers, u32),
        ("llama.feed_forward_length", config.intermediate_size, u32),
        ("llama.attention.head_count", config.num_attention_heads, u32),
        ("llama.attention.head_count_kv", config.num_key_value_heads, u32),
        ("llama.rope.freq_base", float(rope_theta), f32),
        ("llama.attention.layer_norm_rms_epsilon", float(config.rms_norm_eps), f32),
        ("llama.vocab_size", config.vocab_size, u32),
        ("llama.rope.dimension_count", head_dim, u32),
    ]
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    if backend["model"]["type"] != "BPE":
        raise ExportError("only byte-level BPE tokenizers are exported without a base GGUF")
    vocab = {
        **backend["model"]["vocab"],
        **{t["content"]: t["id"] for t in backend["added_tokens"]},
    }
    tokens = [""] * config.vocab_size
    for text, index in vocab.items():
        if index < len(tokens):
            tokens[index] = text
    special = {t["id"] for t in backend["added_tokens"] if t.get("special")}
    merges = [m if isinstance(m, str) else " ".join(m) for m in backend["model"]["merges"]]
    strings = [T.ARRAY, T.STRING]
    fields += [
        ("tokenizer.ggml.model", "gpt2", [T.STRING]),
        ("tokenizer.ggml.pre", "gpt2", [T.STRING]),
        ("tokenizer.ggml.tokens", tokens, strings),
        (
            "tokenizer.ggml.token_type",
            [3 if i in special else 1 for i in range(len(tokens))],
            [T.ARRAY, T.INT32],
        ),
        ("tokenizer.ggml.merges", merges, strings),
        ("tokenizer.ggml.add_bos_token", False, [T.BOOL]),
    ]
    for key, token_id in (
        ("bos", tokenizer.bos_token_id),
        ("eos", tokenizer.eos_token_id),
        ("padding", tokenizer.pad_token_id),
        ("unknown", tokenizer.unk_token_id),
    ):
        if token_id is not None:
            fields.append((f"tokenizer.ggml.{key}_token_id", token_id, u32))
    if tokenizer.chat_template:
        fields.append(("tokenizer.chat_template", tokenizer.chat_template, [T.STRING]))
    return "llama", fields


def _copy_metadata(writer, fields: Iterable[tuple[str, object, list]]) -> None:
    import gguf

    for name, value, types in fields:
        if types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, value, types[0], sub_type=types[-1])
        else:
            writer.add_key_value(name, value, types[0])


def _encode(array: np.ndarray, outtype: str):
    """(data, raw dtype) for one tensor: F32 for vectors, else F16 or Q8_0."""
    import gguf

    array = np.ascontiguousarray(array, dtype=np.float32)
    if array.ndim < 2:
        return array, None
    if outtype == "q8_0" and array.shape[-1] % 32 == 0:
        qtype = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(array, qtype), qtype
    return array.astype(np.float16), None


def _gguf_name(name_map, hf_name: str) -> str:
    stem = hf_name.removesuffix(".weight").removesuffix(".bias")
    suffix = hf_name[len(stem) :]
    mapped = name_map.get_name(stem)
    if mapped is None:
        raise ExportError(f"no GGUF name for tensor {hf_name!r}: not a llama-family model?")
    return mapped + suffix


def _finish(writer) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def export_model(
    state_dict: Mapping[str, object],
    shape: LlamaShape,
    metadata: tuple[str, list[Field]],
    target: Path,
    model_name: str,
    outtype: str = "f16",
) -> Path:
    """Merged weights (HF names) → `target` GGUF, written beside it and renamed.
    `metadata` is `base_metadata(base.gguf)` or `hf_metadata(config, tokenizer)`."""
    import gguf

    if outtype not in OUTTYPES:
        raise ExportError(f"outtype must be one of {OUTTYPES}, got {outtype!r}")
    arch, fields = metadata
    if arch != "llama":
        raise ExportError(f"only llama-architecture bases are exported, this one is {arch!r}")
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, shape.n_blocks)
    with atomic_path(target) as staging:
        writer = gguf.GGUFWriter(str(staging), arch)
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(model_name)
        file_type = (
            gguf.LlamaFileType.MOSTLY_Q8_0 if outtype == "q8_0" else gguf.LlamaFileType.MOSTLY_F16
        )
        writer.add_file_type(file_type)
        if outtype == "q8_0":
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        _copy_metadata(writer, fields)
        for hf_name, tensor in state_dict.items():
            if hf_name == "lm_head.weight" and "model.embed_tokens.weight" in state_dict:
                tied = np.array_equal(
                    np.asarray(tensor), np.asarray(state_dict["model.embed_tokens.weight"])
                )
                if tied:
                    continue  # llama.cpp reuses token_embd when output.weight is absent
            array = np.asarray(tensor, dtype=np.float32)
            if hf_name.endswith("self_attn.q_proj.weight"):
                array = rotary_permute(array, shape.n_head)
            elif hf_name.endswith("self_attn.k_proj.weight"):
                array = rotary_permute(array, shape.n_head_kv)
            data, raw_dtype = _encode(array, outtype)
            writer.add_tensor(_gguf_name(name_map, hf_name), data, raw_dtype=raw_dtype)
        _finish(writer)
    return target


def export_lora_adapter(
    lora_weights: Mapping[str, object],
    alpha: float,
    shape: LlamaShape,
    target: Path,
    adapter_name: str,
) -> Path:
    """A peft LoRA (adapter_model.safetensors) → a llama.cpp adapter GGUF (F32).

    peft names `base_model.model.<module>.lora_A.weight` ([r, in]) and `lora_B` ([out, r]);
    GGUF names `<module gguf name>.weight.lora_a` / `.lora_b`. The q/k rotary permutation
    acts on output rows, so it applies to lora_b only.
    """
    import gguf

    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, shape.n_blocks)
    with atomic_path(target) as staging:
        writer = gguf.GGUFWriter(str(staging), "llama")
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_name(adapter_name)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        for peft_name, tensor in lora_weights.items():
            module, _, part = peft_name.removeprefix("base_model.model.").partition(".lora_")
            which = part.split(".")[0]  # "A" or "B"
            array = np.asarray(tensor, dtype=np.float32)
            if which == "B" and module.endswith("self_attn.q_proj"):
                array = rotary_permute(array, shape.n_head)
            elif which == "B" and module.endswith("self_attn.k_proj"):
                array = rotary_permute(array, shape.n_head_kv)
            name = _gguf_name(name_map, module + ".weight") + (
                ".lora_a" if which == "A" else ".lora_b"
            )
            writer.add_tensor(name, np.ascontiguousarray(array))
        _finish(writer)
    return target
