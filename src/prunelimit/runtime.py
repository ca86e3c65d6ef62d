"""Device, threads and determinism: GPU-specific settings live here and nowhere else."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def resolve_device(device: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else the CPU; ``cpu``, ``cuda``, ``cuda:1`` as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return dev


def setup(seed: int, threads: int | None = None, device: str = "auto") -> torch.device:
    """Seed every generator, make kernels deterministic, limit CPU threads; return the device.

    Same seed and config on the same machine gives the same numbers (on CUDA this needs the
    deterministic cuBLAS workspace, set here before the first CUDA call). Deterministic mode
    *raises*: a kernel with no deterministic implementation stops the job with PyTorch's
    ``RuntimeError`` naming it, rather than warning and giving other numbers after a resume.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if threads:
        torch.set_num_threads(int(threads))
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds third-party code using the global RNG
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return resolve_device(device)


def generator(seed: int) -> torch.Generator:
    """A CPU generator for data order and augmentation (its state is checkpointed)."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g
