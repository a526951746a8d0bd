"""Jobs: curation (one batch through the data half and diamonds+), training (every
batch's diamonds+ → dataset → LoRA run → evaluations → best checkpoint) and deploy."""

import dagster as dg

from training_assets.memory import release_free_heap
from training_assets.partitions import batch_partitions
from training_assets.stages import CURATION_GROUPS

CURATION = dg.AssetSelection.groups(*CURATION_GROUPS)


@dg.success_hook(name="release_memory")
def release_memory(context: dg.HookContext) -> None:
    """After each step, hand the heap its outputs left behind back to the OS.

    With the in-process executor (`training-assets materialize`) every step shares one
    process; without this, each step's freed Python objects stay resident and the
    steps' peaks add up instead of taking turns.
    """
    release_free_heap()


curation_job = dg.define_asset_job(
    "curation_job",
    selection=CURATION,
    partitions_def=batch_partitions,
    hooks={release_memory},
    description="One batch: raw_spans → diamond_spans/span_quarantine → span_embeddings → "
    "enriched_spans, span_index and inverted_index updated with it, then diamonds_plus "
    "(+ rejected, + report), then kernel_state and global_kernel_state.",
)

TRAINING = dg.AssetSelection.groups("training", "evaluation")

training_job = dg.define_asset_job(
    "training_job",
    selection=TRAINING,
    hooks={release_memory},
    description="training_dataset from every diamonds+ batch → lora_checkpoints (one run; "
    "resumes an unfinished one) → checkpoint_evals → best_checkpoint.",
)

deploy_job = dg.define_asset_job(
    "deploy_job",
    selection=dg.AssetSelection.groups("deploy"),
    description="best_checkpoint → gguf_export (merge, GGUF, read-back check) → ollama_modelfile "
    "→ deployed_model (push to the Ollama server).",
)

regeneration_job = dg.define_asset_job(
    "regeneration_job",
    selection=dg.AssetSelection.assets("feedback_spans", "synthetic_spans"),
    description="When fresh training data runs low: export well-rated feedback and generate "
    "synthetic spans for under-represented domains; both land as new batches, which "
    "landing_sensor sends through curation.",
)

preference_job = dg.define_asset_job(
    "preference_job",
    selection=dg.AssetSelection.groups("preference"),
    hooks={release_memory},
    description="preference_dataset from the feedback store → preference_checkpoints (DPO on "
    "pairs, KTO on unpaired judgements, from the best SFT checkpoint) → preference_evals (the "
    "golden gate against the SFT start, and the held-out preference margin).",
)
