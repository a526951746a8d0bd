"""One config object is the single source of truth for a training run.

It is the Dagster run config of `lora_checkpoints`, saved as the run's `config.json`,
and checked by `validate()` before any model is loaded: a bad combination (fp16 on a
CPU, bf16 on a GPU without it, a schedule that does not exist) fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from training_assets.project_settings import section_setter

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULES = ("cosine", "linear", "constant")


# defaults: the `training` section of the project settings file, else these
from_file = section_setter("training")


class TrainingConfigError(ValueError):
    pass


class TrainingConfig(dg.Config):
    lora_r: int = from_file("lora_r", 16)
    lora_alpha: int = from_file("lora_alpha", 32)
    lora_dropout: float = from_file("lora_dropout", 0.05)
    target_modules: list[str] = from_file(
        "target_modules", ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    precision: str = from_file("precision", "auto")  # auto | fp32 | bf16 | fp16
    device: str = from_file("device", "auto")  # auto | cpu | cuda | cuda:N
    learning_rate: float = from_file("learning_rate", 3e-4)
    # cosine | linear | constant (after warmup)
    lr_schedule: str = from_file("lr_schedule", "cosine")
    warmup_steps: int = from_file("warmup_steps", 2)
    epochs: float = from_file("epochs", 1.0)
    max_steps: int = from_file("max_steps", 0)  # > 0 overrides epochs
    batch_size: int = from_file("batch_size", 4)
    gradient_accumulation: int = from_file("gradient_accumulation", 1)
    seed: int = from_file("seed", 0)
    packing: bool = from_file("packing", False)
    # steps; every checkpoint is also an evaluation
    checkpoint_every: int = from_file("checkpoint_every", 10)
    # validation examples scored at each checkpoint
    max_eval_examples: int = from_file("max_eval_examples", 48)
    # golden prompts answered in the log at each checkpoint
    preview_prompts: int = from_file("preview_prompts", 2)
    preview_tokens: int = from_file("preview_tokens", 40)
    resume: bool = from_file("resume", True)  # continue an unfinished run with the same data
    # data-parallel processes on this machine (torchrun, DDP; training/distributed.py):
    # each takes batch_size rows, the global batch is batch_size × nproc
    nproc: int = from_file("nproc", 1)

    def validate(self) -> None:
        """Every value and the hardware they ask for; a TrainingConfigError says what is wrong."""
        problems = self.problems()
        if problems:
            raise TrainingConfigError("bad training config: " + "; ".join(problems))
        resolve_hardware(self.device, self.precision)

    def problems(self) -> list[str]:
        """What is wrong with the values themselves (no torch needed: checked at load)."""
        problems = []
        if self.lora_r <= 0 or self.lora_alpha <= 0:
            problems.append("lora_r and lora_alpha must be positive")
        if not 0 <= self.lora_dropout < 1:
            problems.append("lora_dropout must be in [0, 1)")
        if not self.target_modules:
            problems.append("target_modules must name at least one module")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {PRECISIONS}")
        if self.lr_schedule not in SCHEDULES:
            problems.append(f"lr_schedule must be one of {SCHEDULES}")
        if self.learning_rate <= 0:
            problems.append("learning_rate must be positive")
        if self.max_steps <= 0 and self.epochs <= 0:
            problems.append("set epochs > 0 or max_steps > 0")
        for name in ("batch_size", "gradient_accumulation", "checkpoint_every", "nproc"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if self.warmup_steps < 0 or self.max_eval_examples < 0 or self.preview_prompts < 0:
            problems.append("warmup_steps, max_eval_examples and preview_prompts must be ≥ 0")
        return problems


@dataclass(frozen=True)
class Hardware:
    device: torch.device
    precision: str  # fp32 | bf16 | fp16
    autocast_dtype: torch.dtype | None

    @property
    def uses_grad_scaler(self) -> bool:
        return self.precision == "fp16"


def resolve_hardware(device: str, precision: str) -> Hardware:
    """The device and precision a run will use, or a TrainingConfigError saying why not."""
    import torch

    from training_assets.cpu import cpu_has_bf16

    cuda = torch.cuda.is_available()
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    if device.startswith("cuda") and not cuda:
        raise TrainingConfigError(f"device {device!r} asked for, but torch sees no CUDA device")
    if not (device == "cpu" or device.startswith("cuda")):
        raise TrainingConfigError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    on_cuda = device.startswith("cuda")
    bf16_ok = on_cuda and torch.cuda.is_bf16_supported()
    if precision == "auto":
        # bf16 autocast over fp32 master weights and optimizer state: on CUDA with bf16,
        # and on CPUs that multiply bf16 in hardware (AVX512-BF16, AMX); fp16 on older GPUs
        cpu_bf16 = not on_cuda and cpu_has_bf16()
        precision = "bf16" if bf16_ok or cpu_bf16 else "fp16" if on_cuda else "fp32"
    if precision == "fp16" and not on_cuda:
        raise TrainingConfigError(
            "precision fp16 needs a CUDA device (CPU kernels do not train in fp16); "
            "use fp32 or bf16 on CPU"
        )
    if precision == "bf16" and on_cuda and not bf16_ok:
        raise TrainingConfigError(f"{torch.cuda.get_device_name()} has no bf16; use fp16 or fp32")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return Hardware(torch.device(device), precision, dtype)
