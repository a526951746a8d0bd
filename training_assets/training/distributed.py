"""Data-parallel LoRA training: N processes started by torchrun, DDP over gloo (CPU) or
NCCL (CUDA), each process one device.

What stays true with N processes:

- **The same batches as one process with N times the batch.** The global batch of an
  optimizer step is micro-batch m of a `batch_size × N` stream (a function of seed and
  epoch, as always); rank r takes its rows r, r+N, r+2N, … Each rank's loss is its answer
  tokens' NLL over the *global* answer-token count, times N because DDP averages
  gradients: the gradient is the one-process gradient, and the loss trajectory matches a
  one-process run with the same global batch (tested on gloo).
- **One writer.** Rank 0 picks (or resumes) the run folder and tells the others; it
  evaluates, writes metrics, checkpoints (atomically, as before) and the summary, while
  the others wait at a barrier. Every rank restores the same checkpoint on resume.
- **One identity.** The number of processes is part of the run's identity when it is
  more than one (it changes the global batch), so a run is resumed only with its own N.

`launch` runs it from the `lora_checkpoints` asset (or `training-assets train --nproc N`):
it writes the dataset and a spec into the runs folder, starts
`python -m torch.distributed.run --standalone --nproc-per-node N -m
training_assets.training.distributed SPEC`, passes the workers' log lines on, and reads
rank 0's summary back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group: rank 0 of 1 when not distributed."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_sum(self, value: float) -> float:
        if self.world == 1:
            return value
        import torch
        import torch.distributed as dist

        tensor = torch.tensor([float(value)], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return float(tensor.item())

    def broadcast(self, value):
        """Rank 0's `value`, on every rank."""
        if self.world == 1:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def shard(self, batch: list) -> list:
        """This rank's rows of a global micro-batch."""
        return batch[self.rank :: self.world]


def current_ranks() -> Ranks:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size())
    return Ranks()


def _worker(spec_file: Path) -> int:
    """One torchrun process: join the group, train, rank 0 writes the summary."""
    import polars as pl
    import torch
    import torch.distributed as dist

    from training_assets.base_model.locate import (
        load_causal_lm,
        load_tokenizer,
        locate_base_model,
    )
    from training_assets.training.config import TrainingConfig
    from training_assets.training.run import train_lora, training_data

    spec = json.loads(spec_file.read_text())
    config = TrainingConfig(**spec["config"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    on_cuda = config.device.startswith("cuda") or (
        config.device == "auto" and torch.cuda.is_available()
    )
    if on_cuda:
        torch.cuda.set_device(local_rank)
        config = config.model_copy(update={"device": f"cuda:{local_rank}"})
    dist.init_process_group("nccl" if on_cuda else "gloo")
    try:
        table = pl.read_parquet(spec["dataset"])
        data = training_data(table, int(table["tokens"].max() or 1))
        location = locate_base_model(spec["base_model"])
        cache = Path(spec["cache_dir"])
        ranks = current_ranks()
        summary = train_lora(
            runs_dir=Path(spec["runs_dir"]),
            config=config,
            data=data,
            load_model=lambda: load_causal_lm(location, cache),
            tokenizer=load_tokenizer(location, cache),
            base_fingerprint=spec["base_fingerprint"],
            log=lambda message: print(message, flush=True) if ranks.main else None,
        )
        if ranks.main:
            Path(spec["summary"]).write_text(json.dumps(summary))
    finally:
        dist.destroy_process_group()
    return 0


def launch(
    nproc: int,
    scratch: Path,
    config: dict,
    dataset,
    base_model: str,
    cache_dir: Path,
    runs_dir: Path,
    base_fingerprint: str,
    log: Callable[[str], None],
) -> dict:
    """Train on `nproc` processes of this machine; return rank 0's summary.

    `dataset` is the training_dataset table (polars), written beside the spec in
    `scratch`; the scratch folder is removed after a clean finish."""
    import shutil

    scratch.mkdir(parents=True, exist_ok=True)
    dataset.write_parquet(scratch / "dataset.parquet")
    spec = {
        "config": config,
        "dataset": str(scratch / "dataset.parquet"),
        "base_model": base_model,
        "cache_dir": str(cache_dir),
        "runs_dir": str(runs_dir),
        "base_fingerprint": base_fingerprint,
        "summary": str(scratch / "summary.json"),
    }
    spec_file = scratch / "spec.json"
    spec_file.write_text(json.dumps(spec))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "training_assets.training.distributed",
        str(spec_file),
    ]
    env = {**os.environ}
    # torchrun gives each process one thread unless told: share this machine's cores
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip())
        log(lines[-1])
    if process.wait() != 0:
        # a worker's own traceback comes before torchrun's report of it: show that one
        first = next((i for i, line in enumerate(lines) if "Traceback" in line), len(lines))
        raise RuntimeError(
            f"distributed training on {nproc} processes failed (exit {process.returncode}):\n"
            + "\n".join(lines[first : first + 60])
        )
    summary = json.loads((scratch / "summary.json").read_text())
    shutil.rmtree(scratch, ignore_errors=True)
    return summary


if __name__ == "__main__":
    sys.exit(_worker(Path(sys.argv[1])))
