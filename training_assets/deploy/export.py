"""Export the best checkpoint as GGUF: the logic of `gguf_export`, pure of Dagster.

torch, peft and safetensors are imported inside: loading the code location never pays
for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from training_assets.deploy.gguf_export import (
    OUTTYPES,
    ExportError,
    base_metadata,
    export_lora_adapter,
    export_model,
    hf_metadata,
)
from training_assets.deploy.ollama_client import file_digest
from training_assets.training.dataset import chat_prompt_ids

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def export_best_checkpoint(
    best_checkpoint: dict,
    base_model,
    deploy_root: Path,
    model_name: str,
    outtype: str,
    export_adapter: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> dict:
    """Merge the best checkpoint into the base, write `<deploy_root>/<model_name>/model.gguf`
    (and adapter.gguf), read it back and check its next-token logits against the merged
    model, and let it answer one prompt. The record `gguf_export` stores; an ExportError
    for anything that stops the export. `base_model` is a BaseModelResource."""
    from training_assets.deploy.merge import (
        llama_shape,
        load_gguf_model,
        logit_agreement,
        lora_alpha,
        merge_checkpoint,
    )
    from training_assets.lm.generation import generate_answers

    if best_checkpoint.get("checkpoint") is None:
        raise ExportError(
            "best_checkpoint names no checkpoint (every one regressed): nothing to export"
        )
    if outtype not in OUTTYPES or not set(model_name) <= _NAME_CHARS:
        raise ExportError(
            f"outtype must be one of {OUTTYPES}; model_name lower-case letters, digits, - _ ."
        )
    checkpoint = Path(best_checkpoint["path"])
    folder = deploy_root / model_name
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    merged = merge_checkpoint(base_model.causal_lm(), checkpoint)
    location = base_model.location()
    tokenizer = base_model.tokenizer()
    metadata = (
        base_metadata(Path(location.path) / location.gguf_file)
        if location.gguf_file
        else hf_metadata(merged.config, tokenizer)
    )
    target = export_model(
        {name: tensor.detach().cpu().numpy() for name, tensor in merged.state_dict().items()},
        llama_shape(merged.config),
        metadata,
        folder / "model.gguf",
        model_name,
        outtype,
    )
    adapter = None
    if export_adapter:
        from safetensors.torch import load_file

        adapter = export_lora_adapter(
            load_file(str(checkpoint / "adapter_model.safetensors")),
            lora_alpha(checkpoint),
            llama_shape(merged.config),
            folder / "adapter.gguf",
            f"{model_name}-lora",
        )
    export_seconds = time.perf_counter() - started
    prompt = chat_prompt_ids(
        tokenizer,
        best_checkpoint.get("golden_prompt")
        or [{"role": "user", "content": "What is a GGUF file?"}],
    )
    reloaded = load_gguf_model(target)
    agreement = logit_agreement(merged, reloaded, prompt, outtype)
    if not agreement.ok:
        raise ExportError(
            f"{target} read back disagrees with the merged model: max |Δlogit| "
            f"{agreement.max_abs_diff:.4f} (tolerance {agreement.tolerance}), same top-1 {agreement.same_top1}"
        )
    answer = generate_answers(reloaded, tokenizer, [prompt], 64, reloaded.device)[0]
    log(f"exported {target} in {export_seconds:.1f}s; the GGUF answers: {answer.text!r}")
    record = {
        "model_name": model_name,
        "path": str(target),
        "digest": file_digest(target),
        "bytes": target.stat().st_size,
        "outtype": outtype,
        "adapter_path": str(adapter) if adapter else None,
        "checkpoint": best_checkpoint["checkpoint"],
        "checkpoint_path": str(checkpoint),
        "run_id": best_checkpoint["run_id"],
        "batches": best_checkpoint.get("batches", []),
        "val_loss": best_checkpoint["val_loss"],
        "export_seconds": round(export_seconds, 2),
        "logit_max_abs_diff": agreement.max_abs_diff,
        "logit_tolerance": agreement.tolerance,
        "sample_prompt": tokenizer.decode(prompt),
        "sample_answer": answer.text,
    }
    return record
