"""gguf_export → ollama_modelfile → deployed_model, all in $TRAINING_WORKSPACE/deploy/<model>/.

torch-based helpers are imported inside the assets: see evaluation/assets.py.
"""

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from resources.base_model import BaseModelResource
from resources.ollama import OllamaResource
from resources.workspace import WorkspaceResource
from training_assets.deploy.gguf_export import (
    OUTTYPES,
    ExportError,
    base_metadata,
    export_lora_adapter,
    export_model,
    hf_metadata,
)
from training_assets.deploy.modelfile import (
    TemplateError,
    check_template_parity,
    go_template,
    measure_chat_shape,
    render_modelfile,
    stop_tokens,
)
from training_assets.deploy.ollama_client import OllamaError, OllamaUnreachable, file_digest
from training_assets.executors import gpu_step_tags
from training_assets.metadata import markdown_table
from training_assets.training.dataset import chat_prompt_ids

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class GgufExportConfig(dg.Config):
    model_name: str = "training-assets"
    outtype: str = "f16"  # f16 | q8_0
    export_adapter: bool = False  # also write the LoRA alone as adapter.gguf


@dg.asset(
    group_name="deploy",
    kinds={"gguf", "pytorch"},
    io_manager_key="json_io_manager",
    op_tags=gpu_step_tags(),
    description="The best checkpoint merged into the base and written as GGUF (F16 or Q8_0) with "
    "the base's tokenizer and chat template, read back with transformers and checked against "
    "the merged model's next-token logits; optionally the LoRA as an adapter GGUF.",
)
def gguf_export(
    context: dg.AssetExecutionContext,
    config: GgufExportConfig,
    base_model: BaseModelResource,
    workspace: WorkspaceResource,
    best_checkpoint: dict,
) -> dg.Output[dict]:
    from training_assets.deploy.merge import (
        llama_shape,
        load_gguf_model,
        logit_agreement,
        lora_alpha,
        merge_checkpoint,
    )
    from training_assets.evaluation.measures import generate_answers

    if best_checkpoint.get("checkpoint") is None:
        raise dg.Failure(
            "best_checkpoint names no checkpoint (every one regressed): nothing to export"
        )
    if config.outtype not in OUTTYPES or not set(config.model_name) <= _NAME_CHARS:
        raise dg.Failure(
            f"outtype must be one of {OUTTYPES}; model_name lower-case letters, digits, - _ ."
        )
    checkpoint = Path(best_checkpoint["path"])
    folder = workspace.path / "deploy" / config.model_name
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    merged = merge_checkpoint(base_model.causal_lm(), checkpoint)
    location = base_model.location()
    tokenizer = base_model.tokenizer()
    try:
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
            config.model_name,
            config.outtype,
        )
        adapter = None
        if config.export_adapter:
            from safetensors.torch import load_file

            adapter = export_lora_adapter(
                load_file(str(checkpoint / "adapter_model.safetensors")),
                lora_alpha(checkpoint),
                llama_shape(merged.config),
                folder / "adapter.gguf",
                f"{config.model_name}-lora",
            )
    except ExportError as error:
        raise dg.Failure(str(error)) from error
    export_seconds = time.perf_counter() - started
    prompt = chat_prompt_ids(
        tokenizer,
        best_checkpoint.get("golden_prompt")
        or [{"role": "user", "content": "What is a GGUF file?"}],
    )
    reloaded = load_gguf_model(target)
    agreement = logit_agreement(merged, reloaded, prompt, config.outtype)
    if not agreement.ok:
        raise dg.Failure(
            f"{target} read back disagrees with the merged model: max |Δlogit| "
            f"{agreement.max_abs_diff:.4f} (tolerance {agreement.tolerance}), same top-1 {agreement.same_top1}"
        )
    answer = generate_answers(reloaded, tokenizer, [prompt], 64, reloaded.device)[0]
    context.log.info(
        f"exported {target} in {export_seconds:.1f}s; the GGUF answers: {answer.text!r}"
    )
    record = {
        "model_name": config.model_name,
        "path": str(target),
        "digest": file_digest(target),
        "bytes": target.stat().st_size,
        "outtype": config.outtype,
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
    return dg.Output(
        record,
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "size_mb": round(record["bytes"] / 1e6, 1),
            "outtype": config.outtype,
            "source_checkpoint": record["checkpoint"],
            "export_seconds": record["export_seconds"],
            "logit_max_abs_diff": round(agreement.max_abs_diff, 5),
            "sample_answer": answer.text,
        },
    )


class OllamaModelfileConfig(dg.Config):
    system_prompt: str | None = None  # None: the chat template's own default, if it has one
    num_ctx: int = 2048


@dg.asset(
    group_name="deploy",
    kinds={"ollama"},
    io_manager_key="json_io_manager",
    description="`deploy/<model>/Modelfile` (FROM ./model.gguf, a TEMPLATE measured from the "
    "tokenizer's chat template and checked for identical renders, SYSTEM, stop tokens, "
    "num_ctx) and INSTRUCTIONS.txt with the exact commands.",
)
def ollama_modelfile(
    context: dg.AssetExecutionContext,
    config: OllamaModelfileConfig,
    base_model: BaseModelResource,
    gguf_export: dict,
) -> dg.Output[dict]:
    tokenizer = base_model.tokenizer()
    try:
        shape = measure_chat_shape(tokenizer)
        template = go_template(shape)
        system = config.system_prompt if config.system_prompt is not None else shape.default_system
        check_template_parity(tokenizer, template, shape.default_system)
        stops = stop_tokens(shape, tokenizer.eos_token)
        folder = Path(gguf_export["path"]).parent
        text = render_modelfile(template, system, stops, config.num_ctx)
    except TemplateError as error:
        raise dg.Failure(
            f"cannot write an Ollama template for {base_model.model}: {error}"
        ) from error
    from training_assets.atomic import write_bytes_atomic

    name = gguf_export["model_name"]
    write_bytes_atomic(folder / "Modelfile", text.encode())
    write_bytes_atomic(folder / "INSTRUCTIONS.txt", instructions(name, folder).encode())
    record = {
        "model_name": name,
        "folder": str(folder),
        "modelfile": str(folder / "Modelfile"),
        "template": template,
        "system": system,
        "stop": stops,
        "num_ctx": config.num_ctx,
        "gguf_digest": gguf_export["digest"],
    }
    return dg.Output(
        record,
        metadata={
            "modelfile": dg.MetadataValue.md(f"```\n{text}\n```"),
            "folder": dg.MetadataValue.path(str(folder)),
        },
    )


def instructions(name: str, folder: Path) -> str:
    return (
        f"# {name}: run it with Ollama\n"
        f"cd {folder}\n"
        f"ollama create {name} -f Modelfile\n"
        f'ollama run {name} "Hello! What can you do?"\n\n'
        "# or with llama.cpp\n"
        f"llama-cli -m {folder / 'model.gguf'} -cnv\n"
    )


@dg.asset(
    group_name="deploy",
    kinds={"ollama"},
    io_manager_key="json_io_manager",
    description="The model pushed to the Ollama server at OLLAMA_HOST (blobs by digest, then "
    "/api/create); records the model name, digest, source checkpoint and the diamonds+ batches "
    "it was trained on. With no server it fails and leaves the Modelfile for `ollama create`.",
)
def deployed_model(
    context: dg.AssetExecutionContext,
    ollama: OllamaResource,
    gguf_export: dict,
    ollama_modelfile: dict,
) -> dg.Output[dict]:
    client = ollama.client()
    name = ollama_modelfile["model_name"]
    try:
        client.version()
        digest = client.push_blob(Path(gguf_export["path"]))
        if digest != ollama_modelfile["gguf_digest"]:
            raise dg.Failure(
                "model.gguf changed after its Modelfile was written: rematerialize gguf_export+"
            )
        parameters = {"stop": ollama_modelfile["stop"], "num_ctx": ollama_modelfile["num_ctx"]}
        client.create(
            name,
            {"model.gguf": digest},
            ollama_modelfile["template"],
            ollama_modelfile["system"],
            parameters,
            on_status=lambda status: context.log.info(f"ollama: {status}"),
        )
    except OllamaUnreachable as error:
        raise dg.Failure(
            f"{error}. Nothing was deployed; the model is ready for the ollama CLI: "
            f"cd {ollama_modelfile['folder']} && ollama create {name} -f Modelfile"
        ) from error
    except OllamaError as error:
        raise dg.Failure(str(error)) from error
    record = {
        "model_name": name,
        "host": client.base,
        "digest": digest,
        "checkpoint": gguf_export["checkpoint"],
        "checkpoint_path": gguf_export["checkpoint_path"],
        "run_id": gguf_export["run_id"],
        "val_loss": gguf_export["val_loss"],
        "batches": gguf_export["batches"],
        "deployed_at": datetime.now(UTC).isoformat(),
    }
    return dg.Output(
        record,
        metadata={
            "model_name": name,
            "digest": digest,
            "host": client.base,
            "source_checkpoint": f"{record['run_id']}/{record['checkpoint']}",
            "lineage": markdown_table(["diamonds+ batch"], [(b,) for b in record["batches"]]),
        },
    )
