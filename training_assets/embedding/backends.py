"""How the embedding model runs: torch in fp32 (the reference), bf16 or fp16.

`TRAINING_EMBED_BACKEND` picks one; `auto` takes bf16 on a CPU with bf16 units
(AVX512-BF16 or AMX), fp16 on CUDA, fp32 elsewhere. The backend is part of the model
fingerprint, so it is part of every cache key and of span_embeddings' code version:
vectors of two backends are never mixed up, and a change re-embeds what it must.

Whatever the backend, vectors come out as float32 and are normalised in float32 (a
bf16 norm is off by ~1e-3). Agreement with fp32 is checked on every batch
(`agreement.py`, the `agrees_with_fp32` check), not assumed.

sentence-transformers' ONNX and OpenVINO backends are not offered: their export needs
`optimum-onnx` (transformers < 4.58) or `optimum-intel` (torchvision, which does not
install beside the CPU torch wheel); the README says more.
"""

from __future__ import annotations

from training_assets.cpu import cpu_has_bf16
from training_assets.settings import SettingsError

BACKENDS = ("auto", "torch-fp32", "torch-bf16", "torch-fp16")
REFERENCE = "torch-fp32"
_DTYPES = {"torch-fp32": "float32", "torch-bf16": "bfloat16", "torch-fp16": "float16"}


class BackendError(SettingsError):
    pass


def resolve_backend(backend: str, device: str) -> str:
    """The backend `auto` means on `device`; a BackendError for one the device cannot run."""
    if backend not in BACKENDS:
        raise BackendError(f"TRAINING_EMBED_BACKEND must be one of {BACKENDS}, got {backend!r}")
    on_cuda = device.startswith("cuda")
    if backend == "auto":
        if on_cuda:
            return "torch-fp16"
        return "torch-bf16" if device == "cpu" and cpu_has_bf16() else REFERENCE
    if backend == "torch-fp16" and not on_cuda:
        raise BackendError("torch-fp16 embeds on CUDA only (CPU kernels are slow in fp16)")
    return backend


def torch_dtype(backend: str):
    import torch

    return getattr(torch, _DTYPES[backend])
