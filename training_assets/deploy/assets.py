"""gguf_export → ollama_modelfile → deployed_model, all in $TRAINING_WORKSPACE/deploy/<model>/.

torch-based helpers are imported inside the assets: see evaluation/assets.py.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from resources.base_model import BaseModelResource
from resources.ollama import OllamaResource
from resources.tracking import ExperimentTrackerResource
from resources.workspace import WorkspaceResource
from training_assets.deploy.export import export_best_checkpoint
from training_assets.deploy.gguf_export import ExportError
from training_assets.deploy.modelfile import (
    TemplateError,
    check_template_parity,
    go_template,
    measure_chat_shape,
    render_modelfile,
    stop_tokens,
)
from training_assets.deploy.ollama_client import OllamaError, OllamaUnreachable
from training_assets.executors import gpu_step_tags
from training_assets.metadata import markdown_table
from training_assets.project_settings import section_setter

from_file = section_setter("deploy")  # defaults: the settings file, else these


class GgufExportConfig(dg.Config):
    model_name: str = from_file("model_name", "training-assets")
    outtype: str = from_file("outtype", "f16")  # f16 | q8_0
    # also write the LoRA alone as adapter.gguf
    export_adapter: bool = from_file("export_adapter", False)


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
    experiment_tracker: ExperimentTrackerResource,
    best_checkpoint: dict,
) -> dg.Output[dict]:
    try:
        record = export_best_checkpoint(
            best_checkpoint,
            base_model,
            workspace.path / "deploy",
            config.model_name,
            config.outtype,
            config.export_adapter,
            context.log.info,
        )
    except ExportError as error:
        raise dg.Failure(str(error)) from error
    tracker = experiment_tracker.get()
    if tracker:
        record["mlflow_version"] = tracker.register(
            experiment_tracker.model_name("gguf"),
            record["path"],
            record["run_id"],
            {
                "training_run": record["run_id"],
                "checkpoint": record["checkpoint"],
                "outtype": config.outtype,
                "digest": record["digest"],
                "lora_version": best_checkpoint.get("mlflow_version"),
                "dagster.run_id": context.run_id,
                "batches": ",".join(record["batches"]),
            },
            alias="exported",
        )
    target = Path(record["path"])
    return dg.Output(
        record,
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "size_mb": round(record["bytes"] / 1e6, 1),
            "outtype": config.outtype,
            "source_checkpoint": record["checkpoint"],
            "export_seconds": record["export_seconds"],
            "logit_max_abs_diff": round(record["logit_max_abs_diff"], 5),
            "sample_answer": record["sample_answer"],
        },
    )


class OllamaModelfileConfig(dg.Config):
    # None: the chat template's own default, if it has one
    system_prompt: str | None = from_file("system_prompt", None)
    num_ctx: int = from_file("num_ctx", 2048)


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
    experiment_tracker: ExperimentTrackerResource,
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
        "mlflow_version": gguf_export.get("mlflow_version"),
    }
    tracker = experiment_tracker.get()
    if tracker and record["mlflow_version"]:
        tracker.set_alias(
            experiment_tracker.model_name("gguf"), "deployed", record["mlflow_version"]
        )
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
