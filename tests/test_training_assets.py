"""The training half as Dagster assets on a real instance: diamonds+ tables of two
batches → training_dataset → lora_checkpoints → checkpoint_evals → best_checkpoint,
with the tiny model standing in for the base model."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
from fake_ollama import FakeOllama
from training_helpers import qa_spans

from resources import BaseModelResource, OllamaResource
from training_assets.definitions import build_definitions
from training_assets.deploy.ollama_client import file_digest
from training_assets.partitions import batch_partitions


def _write_diamonds_plus(workspace: Path, batch: str, spans: list[dict]) -> None:
    folder = workspace / "diamonds_plus"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{**s, "batch": batch, "tags": ["math"] if i % 4 == 0 else ["programming"]}
            for i, s in enumerate(spans)]  # fmt: skip
    schema = {
        "tags": pl.List(pl.String),
        "id": pl.String,
        "batch": pl.String,
        "system": pl.String,
        "this": pl.String,
        "if_ok": pl.String,
        "context": pl.List(pl.Struct({"this": pl.String, "if_ok": pl.String})),
    }
    pl.DataFrame(rows, schema=schema).write_parquet(folder / f"{batch}.parquet")


def test_training_job_end_to_end(workspace: Path, tiny_model_dir: Path):
    instance = dg.DagsterInstance.get()
    spans = qa_spans(140)
    _write_diamonds_plus(workspace, "batch-a", spans[:70])
    _write_diamonds_plus(workspace, "batch-b", spans[70:])
    instance.add_dynamic_partitions(batch_partitions.name, ["batch-a", "batch-b", "batch-empty"])
    defs = build_definitions(str(workspace))
    job = defs.resolve_job_def("training_job")
    run_config = {
        "ops": {
            "training_dataset": {
                "config": {"max_seq_len": 96, "validation_fraction": 0.15, "golden_fraction": 0.08}
            },
            "lora_checkpoints": {
                "config": {
                    "max_steps": 4,
                    "checkpoint_every": 2,
                    "batch_size": 4,
                    "learning_rate": 0.02,
                    "preview_prompts": 1,
                    "preview_tokens": 4,
                }
            },
            "checkpoint_evals": {"config": {"max_golden_examples": 4, "max_new_tokens": 8}},
            # the tiny model's golden answers are noise; let any checkpoint through here
            "best_checkpoint": {"config": {"chrf_tolerance": 100.0, "stop_tolerance": 1.0}},
        }
    }
    tiny = BaseModelResource(model=str(tiny_model_dir), cache_dir=str(workspace / "models"))
    result = job.execute_in_process(
        run_config=run_config, instance=instance, resources={"base_model": tiny}
    )
    assert result.success

    dataset = pl.read_parquet(workspace / "training_dataset.parquet")
    assert dataset.height == 140 and set(dataset["batch"]) == {"batch-a", "batch-b"}
    assert set(dataset["split"]) == {"train", "validation", "golden"}
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("training_dataset")
    ).asset_materialization.metadata
    assert meta["examples"].value == 140 and meta["tokens_total"].value == dataset["tokens"].sum()
    # the held-out check ran (qa_spans repeat their questions: those moved to train)
    assert meta["heldout_moved_to_train"].value == sum(
        meta[f"heldout_moved_{r}"].value for r in ("same_prompt", "ngram", "cosine")
    )

    summary = json.loads((workspace / "lora_checkpoints.json").read_text())
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == workspace / "runs" and (run_dir / "summary.json").exists()
    # the run's own lineage on disk: rotation keeps the deployed model's batches by it
    assert json.loads((run_dir / "summary.json").read_text())["batches"] == ["batch-a", "batch-b"]
    curve = instance.get_latest_materialization_event(
        dg.AssetKey("lora_checkpoints")
    ).asset_materialization.metadata
    assert curve["loss_curve"].value.startswith("![loss curve](data:image/png;base64,")

    evals = pl.read_parquet(workspace / "checkpoint_evals.parquet")
    assert set(evals["model"]) == {"base", "step-000002", "step-000004"}
    logs = [r.event_log_entry.user_message for r in instance.get_records_for_run(
        result.run_id).records]  # fmt: skip
    assert any(m.startswith("models evaluated (step-000004: 4 golden answers) 3/3 (") for m in logs)
    golden = evals.filter(pl.col("split") == "golden")
    assert golden.height == 3 * 4 and golden["chrf"].is_not_null().all()
    # golden rows carry the answer loss, the answer's cosine to the reference, a budget
    assert golden["loss_sum"].is_not_null().all() and golden["tokens"].min() > 0
    assert golden["answer_cosine"].is_between(-1.0001, 1.0001).all()
    assert (golden["budget"] <= 8).all() and golden["judge_score"].is_null().all()
    pairwise = evals.filter(pl.col("split") == "validation").pivot(
        on="model", index="example_id", values="loss_sum"
    )
    assert pairwise.height == dataset.filter(pl.col("split") == "validation").height

    best = json.loads((workspace / "best_checkpoint.json").read_text())
    assert best["reference"] == "base" and set(best["verdicts"]) == {"step-000002", "step-000004"}
    assert Path(best["path"]).is_dir() and best["verdicts"][best["checkpoint"]].startswith("best")
    assert best["batches"] == ["batch-a", "batch-b"]
    confirmation = best["comparison"]["confirmation"]
    assert confirmation["split"] == "golden" and confirmation["interval"]["examples"] == 4
    low, high = confirmation["interval"]["low"], confirmation["interval"]["high"]
    assert low <= confirmation["interval"]["estimate"] <= high
    checks = {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey("best_checkpoint")
    }
    assert checks["no_golden_regression"] is True
    assert checks["better_than_reference"] == (low > 0)
    best_meta = instance.get_latest_materialization_event(
        dg.AssetKey("best_checkpoint")
    ).asset_materialization.metadata
    assert "golden loss gain" in best_meta["comparison"].value
    assert best_meta["golden_loss_gain_per_example"].value.startswith("![")

    # deploy: merge + GGUF + Modelfile + push to a stand-in Ollama server
    deploy = defs.resolve_job_def("deploy_job")
    with FakeOllama() as server:
        resources = {"base_model": tiny, "ollama": OllamaResource(host=server.host)}
        assert deploy.execute_in_process(instance=instance, resources=resources).success
    folder = workspace / "deploy" / "training-assets"
    assert {p.name for p in folder.iterdir()} >= {"model.gguf", "Modelfile", "INSTRUCTIONS.txt"}
    assert "ollama create training-assets -f Modelfile" in (folder / "INSTRUCTIONS.txt").read_text()
    deployed = json.loads((workspace / "deployed_model.json").read_text())
    assert (
        deployed["digest"] == file_digest(folder / "model.gguf")
        and deployed["digest"] in server.blobs
    )
    assert deployed["checkpoint_path"] == best["path"] and deployed["batches"] == [
        "batch-a",
        "batch-b",
    ]
    created = server.models["training-assets"]
    assert (
        created["files"] == {"model.gguf": deployed["digest"]}
        and "<|im_start|>" in created["template"]
    )

    _assert_tracked_in_mlflow(workspace, summary, best, deployed, result.run_id)

    # no server: a clear failure, the Modelfile stays ready for `ollama create`
    gone = {"base_model": tiny, "ollama": OllamaResource(host=server.host, timeout_seconds=5)}
    failed = deploy.execute_in_process(
        instance=instance,
        resources=gone,
        raise_on_error=False,
    )
    assert not failed.success
    message = str([e.event_specific_data for e in failed.all_events if e.is_step_failure])
    assert (
        "no Ollama server answers" in message
        and "ollama create training-assets -f Modelfile" in message
    )

    # the next training run is judged against the deployed model, not the base
    assert job.execute_in_process(
        run_config=run_config, instance=instance, resources={"base_model": tiny}
    ).success
    again = json.loads((workspace / "best_checkpoint.json").read_text())
    assert again["reference"] == "deployed" and "deployed" in again["scores"]


def test_synthetic_spans_answer_rare_domains_with_the_best_checkpoint(
    workspace: Path, tiny_model_dir: Path
):
    """Runs after a training run exists: regeneration's synthetic half on the tiny model."""
    from training_assets.feedback.assets import synthetic_spans

    instance = dg.DagsterInstance.get()
    spans = qa_spans(80)
    _write_diamonds_plus(workspace, "batch-a", spans)
    instance.add_dynamic_partitions(batch_partitions.name, ["batch-a"])
    defs = build_definitions(str(workspace))
    tiny = BaseModelResource(model=str(tiny_model_dir), cache_dir=str(workspace / "models"))
    assert (
        defs.resolve_job_def("training_job")
        .execute_in_process(
            run_config={
                "ops": {
                    "training_dataset": {"config": {"max_seq_len": 96}},
                    "lora_checkpoints": {"config": {"max_steps": 2, "checkpoint_every": 2}},
                    "checkpoint_evals": {"config": {"max_golden_examples": 2, "max_new_tokens": 4}},
                    "best_checkpoint": {"config": {"chrf_tolerance": 100.0, "stop_tolerance": 1.0}},
                }
            },
            instance=instance,
            resources={"base_model": tiny},
        )
        .success
    )
    (workspace / "kernel").mkdir()
    (workspace / "kernel" / "global.json").write_text(
        json.dumps(
            {
                "recommendations": [
                    {"kind": "under_represented_domain", "subject": "math", "count": 20}
                ]
            }
        )
    )
    resources = dict(defs.resources) | {"base_model": tiny}
    result = dg.materialize(
        [synthetic_spans],
        instance=instance,
        resources=resources,
        run_config={"ops": {"synthetic_spans": {"config": {"cap": 6, "max_new_tokens": 12}}}},
    )
    assert result.success
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("synthetic_spans")[0].metadata.items()
    }
    assert meta["generated"] == 6 and meta["domains"] == ["math"]
    assert meta["kept"] + meta["near_duplicates_dropped"] + meta["unfinished_dropped"] == 6
    landed = sorted((workspace / "landing").glob("synthetic_*.jsonl"))
    assert len(landed) == (1 if meta["kept"] else 0)
    for path in landed:
        for line in path.read_text().splitlines():
            span = json.loads(line)
            assert span["metadata"]["origin"] == "synthetic"
            assert span["metadata"]["quality_score"] == 80.0


def _assert_tracked_in_mlflow(
    workspace: Path, summary: dict, best: dict, deployed: dict, dagster_run: str
):
    """Read the training run back with MLflow's own client from the workspace's store."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("training-assets")
    [run] = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`training_assets.run_id` = '{summary['run_id']}'",
    )
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster.run_id"] == dagster_run
    assert run.data.tags["batches"] == "batch-a,batch-b"
    assert json.loads(run.data.params["max_steps"]) == 4
    assert json.loads(run.data.params["target_modules"]) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    losses = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in losses] == [1, 2, 3, 4]
    assert len(client.get_metric_history(run.info.run_id, "train/tokens_per_second")) == 4
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/loss")] == [2, 4]
    # every checkpoint's evaluation at its step, the base model's beside it
    chrf = client.get_metric_history(run.info.run_id, "eval/golden_chrf")
    assert sorted(m.step for m in chrf) == [2, 4]
    assert run.data.metrics["base/val_loss"] == summary["base_val_loss"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"loss_curve.png", "config.json", "summary.json", "lineage.json"} <= artifacts

    lora = client.get_model_version_by_alias("training-assets-lora", "best")
    assert lora.source == best["path"] and lora.run_id == run.info.run_id
    assert lora.tags["checkpoint"] == best["checkpoint"]
    gguf = client.get_model_version_by_alias("training-assets-gguf", "deployed")
    assert gguf.source.endswith("model.gguf") and gguf.tags["digest"] == deployed["digest"]
    assert gguf.run_id == run.info.run_id and gguf.tags["lora_version"] == str(lora.version)
