"""Device, threads and determinism: GPU-specific settings live here and nowhere else."""

from __future__ import annotations

import gc
import os
import random
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from prunelimit.guard.alerts import activate_from_env


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
    With ``PRUNELIMIT_CUDA_GUARD=1`` the job also raises, on any device, wherever CUDA would
    (:mod:`prunelimit.guard.alerts`): a CPU run rehearses a GPU one.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if threads:
        torch.set_num_threads(int(threads))
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds third-party code using the global RNG
    torch.manual_seed(seed)
    deterministic_algorithms()
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    activate_from_env()
    skip_dynamo_wrappers()
    return resolve_device(device)


def skip_dynamo_wrappers() -> int:
    """Let the functions PyTorch wraps for ``torch.compile`` run without importing TorchDynamo.

    ``torch._disable_dynamo`` wraps functions a compile must not trace (the optimizer's
    ``add_param_group``, ``zero_grad`` and state dicts; the decompositions ``torch.func`` runs a
    Hessian-vector product through; a ``TorchDispatchMode``'s handler, the CUDA guard's). On its
    first call the wrapper imports ``torch._dynamo`` (1.3 s of a job's start) and caches
    ``torch._dynamo.disable(fn)`` on ``fn``, which outside a compile runs ``fn`` as it is. The
    cache of every wrapper made so far is set to ``fn`` itself; the pipeline never compiles (a
    wrapper made later, or a process that has loaded TorchDynamo already, is left alone; a
    Hessian job loads it anyway: ``torch.func.grad`` calls ``torch._dynamo`` itself).
    Returns the number of functions set."""
    if "torch._dynamo" in sys.modules:
        return 0
    import torch._compile

    code = torch._compile._disable_dynamo(lambda: None).__code__
    if "fn" not in code.co_freevars:  # another PyTorch: leave its wrappers as they are
        return 0
    cell = code.co_freevars.index("fn")
    count = 0
    for obj in gc.get_objects():
        if type(obj) is types.FunctionType and obj.__code__ is code:
            fn = obj.__closure__[cell].cell_contents
            if getattr(fn, "__dynamo_disable", None) is None:
                fn.__dynamo_disable = fn
                count += 1
    return count


def deterministic_algorithms() -> None:
    """``torch.use_deterministic_algorithms(True)`` without its import of TorchInductor's config
    (2 s of every job's start, for a compiler the pipeline never runs): PyTorch's own flag is
    set, and Inductor's too where it is already loaded (a user's model compiled before)."""
    torch._C._set_deterministic_algorithms(True, warn_only=False)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True


PRECISIONS = ("fp32", "tf32_conv", "tf32")


@contextmanager
def training_precision(precision: str) -> Iterator[None]:
    """The arithmetic of SGD steps inside the block, restored on exit (also after an error).

    ``fp32``: strict FP32 (the flags :func:`setup` sets); ``tf32_conv``: TF32 convolutions on
    Ampere or newer GPUs (cuDNN's default, under which the reference code trained), matmuls
    strict; ``tf32``: convolutions and matmuls. Only training steps run in it: evaluation,
    the Hessian, the theory and the pruning curves stay strict FP32. A no-op on the CPU.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def generator(seed: int) -> torch.Generator:
    """A CPU generator for data order and augmentation (its state is checkpointed)."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g
