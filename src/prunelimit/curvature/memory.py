"""The linear cost ``a + b * n`` of a call's peak memory in the batch size, and the Hessian
chunk that fits a memory budget (``hessian.batch_size: auto``).

Units: bytes everywhere in this module; the ``*_gb`` config keys and reports use GB = 1e9 bytes
(:data:`GB`).

:func:`per_sample_cost` fits ``fixed + per_sample * n`` to peaks at a few small sizes ``n``
(:func:`prunelimit.curvature.peak.peak_memory`: what a call adds above what was allocated before
it); the training-step and Hessian-vector-product measures are what the workflow's jobs run
(``sgd_step`` with momentum and l1; :class:`~prunelimit.curvature.operator.HessianOperator`
products of ``probes`` vectors at once, as a Lanczos step takes them). The chunk size does not
change the Hessian (products are summed over chunks), only the memory and the speed.

``hessian.memory_gb: auto`` is :data:`AUTO_SHARE` of the job's device memory
(:func:`resolve_memory_gb`, the one place it is resolved): on CUDA the device's total memory, on
the CPU the host memory the job may take (:func:`host_memory_bytes`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from prunelimit.curvature.operator import HessianOperator
from prunelimit.curvature.peak import peak_memory

GB = 1e9  # bytes
# `hessian.memory_gb: auto`: this share of the device's memory. The rest holds what the budget
# leaves out: the dataset on the device (<= 1.4 GB for the paper's), the CUDA context and the
# allocator's slack (on a 40 GB A100: 0.75 x 42.4 = 31.8 GB, as the fixed 30 GB it replaces)
AUTO_SHARE = 0.75
# bytes: on the CPU, peaks of the same call at the same size differ by up to ~10 MB (allocator
# and thread arenas): NOISE bounds one peak's error; growth over the measured sizes below
# RESOLVABLE is not resolved (a slope fitted to it may be off by half or more)
NOISE = 16 * 2**20
RESOLVABLE = 64 * 2**20


@dataclass(frozen=True)
class LinearCost:
    """Peak bytes ``fixed + per_sample * n`` of a call at batch size ``n``, fitted (least
    squares) to the peaks measured at ``sizes``."""

    fixed: float
    per_sample: float
    sizes: tuple[int, ...]
    peaks: tuple[int, ...]
    bound: bool = False  # the steepest line the peaks allow, not their fit (per_sample_cost)

    def at(self, n: float) -> float:
        """Predicted peak bytes at ``n`` samples."""
        return self.fixed + self.per_sample * n

    def largest(self, available: float, cap: int) -> int:
        """The largest ``n <= cap`` whose predicted peak is at most ``available`` bytes (0 if
        none)."""
        if self.per_sample <= 0:
            return cap if self.fixed <= available else 0
        return int(max(0, min(cap, (available - self.fixed) // self.per_sample)))

    def as_dict(self) -> dict:
        return asdict(self)


def per_sample_cost(
    measure: Callable[[int], int],
    sizes: Sequence[int] = (2, 4, 8),
    max_size: int | None = None,
    warmup: bool = True,
    available: float | None = None,
) -> LinearCost:
    """Fit ``fixed + per_sample * n`` to ``measure(n)`` (peak bytes) at ``sizes``.

    ``warmup`` first runs the smallest size once, unrecorded (one-time allocations: thread
    pools, library workspaces). With ``max_size``, while the peaks grow by less than
    :data:`RESOLVABLE` over the sizes (noise on the CPU) the sizes are quadrupled (and warmed
    up again), up to ``max_size``. With ``available`` (bytes) as well, they stop growing where
    the steepest line the peaks allow (:func:`steepest_line`) keeps ``max_size`` samples within
    ``available``: all samples fit whatever the unresolved slope, and that line is returned
    (``bound``), so a chunk planned with it is all ``max_size`` samples."""
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < 2:
        raise ValueError(f"a linear fit needs two sizes or more, got {sizes}")
    while True:
        if warmup:
            measure(sizes[0])
        peaks = tuple(int(measure(n)) for n in sizes)
        grow = max_size is not None and 4 * sizes[-1] <= max_size
        if not grow or peaks[-1] - peaks[0] >= RESOLVABLE:
            slope, fixed = np.polyfit(np.array(sizes, float), np.array(peaks, float), 1)
            return LinearCost(float(fixed), float(slope), sizes, peaks)
        if available is not None:
            line = steepest_line(sizes, peaks)
            if line.at(max_size) <= available:
                return line
        sizes = tuple(4 * s for s in sizes)


def steepest_line(sizes: Sequence[int], peaks: Sequence[int]) -> LinearCost:
    """An upper bound on the cost where the peaks' growth over ``sizes`` is not resolved, each
    peak off by up to :data:`NOISE`: the largest peak plus that noise, and per sample their
    growth plus twice the noise over the sizes' span (``bound``)."""
    slope = (max(peaks[-1] - peaks[0], 0) + 2 * NOISE) / (sizes[-1] - sizes[0])
    return LinearCost(float(max(peaks) + NOISE), float(slope), tuple(sizes), tuple(peaks), True)


def hvp_measure(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    probes: int = 2,
    cache_primal: bool = False,
) -> Callable[[int], int]:
    """``measure(n)``: peak bytes of one product of ``H`` over a chunk of the first ``n`` of
    ``(x, y)`` with ``probes`` vectors at once (the vectors themselves held before)."""
    op = HessianOperator(model, x[:1], y[:1])
    V = torch.randn(probes, op.D, device=op.device)

    def measure(n: int) -> int:
        chunk = HessianOperator(model, x[:n], y[:n], batch_size=n, cache_primal=cache_primal)
        _, peak = peak_memory(lambda: chunk.matvec(V), op.device)
        return peak

    return measure


def lanczos_basis_bytes(probes: int, steps: int, D: int, itemsize: int = 4) -> int:
    """Bytes of the Lanczos bases of ``probes`` probes after ``steps`` steps (float32)."""
    return probes * steps * D * itemsize


def device_basis_bytes(basis_bytes: float, basis_memory_gb: float | None) -> float:
    """The share of the basis held on the job's device: all of it with ``None``, else at most
    ``basis_memory_gb`` GB (the rest in host memory)."""
    return basis_bytes if basis_memory_gb is None else min(basis_bytes, basis_memory_gb * GB)


def host_memory_bytes() -> int:
    """Bytes of host memory a CPU job may take: the smaller of the host's available memory
    (``MemAvailable``) and the job's cgroup limit (``memory.max``, v2, or
    ``memory.limit_in_bytes``, v1; SLURM's ``--mem``, the profile's ``mem_mb``), where set."""
    info = Path("/proc/meminfo").read_text()
    free = int(re.search(r"^MemAvailable:\s+(\d+) kB", info, re.M).group(1)) * 1024
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(path).read_text().strip()
        except OSError:
            continue
        if limit.isdigit():
            free = min(free, int(limit))
    return free


def device_memory_bytes(device: str | torch.device) -> int:
    """Memory of ``device`` (bytes): a CUDA device's total, else :func:`host_memory_bytes`."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return host_memory_bytes()


def resolve_memory_gb(memory_gb: float | str, device: str | torch.device) -> float:
    """``hessian.memory_gb`` in GB: a number as given; ``auto``: :data:`AUTO_SHARE` of
    :func:`device_memory_bytes` of ``device``."""
    if memory_gb == "auto":
        return AUTO_SHARE * device_memory_bytes(device) / GB
    if isinstance(memory_gb, str):
        raise ValueError(f"hessian.memory_gb must be a number > 0 or auto, got {memory_gb!r}")
    return float(memory_gb)


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass(frozen=True)
class ChunkChoice:
    """The Hessian chunk chosen under a budget, and why (bytes; ``memory_gb`` in GB)."""

    batch_size: int
    memory_gb: float
    reserved_bytes: float  # weights and buffers, Hessian samples, the basis' device share
    basis_bytes: float
    basis_device_bytes: float
    hvp: LinearCost

    def as_dict(self) -> dict:
        return {
            **{k: v for k, v in asdict(self).items() if k != "hvp"},
            "hvp_fixed_bytes": self.hvp.fixed,
            "hvp_per_sample_bytes": self.hvp.per_sample,
            "hvp_sizes": list(self.hvp.sizes),
            "hvp_peaks": list(self.hvp.peaks),
            "hvp_bound": self.hvp.bound,
        }

    def reason(self) -> str:
        left = self.memory_gb * GB - self.reserved_bytes
        return (
            f"Hessian chunk {self.batch_size} (auto): budget {self.memory_gb:g} GB minus "
            f"{self.reserved_bytes / GB:.2f} GB held (weights, samples, "
            f"{self.basis_device_bytes / GB:.2f} of the basis' {self.basis_bytes / GB:.2f} GB) "
            f"leaves {left / GB:.2f} GB; a product over n samples takes "
            f"{self.hvp.fixed / GB:.3f} + {self.hvp.per_sample / 1e6:.2f} MB x n "
            f"(measured at n = {list(self.hvp.sizes)}"
            + ("; an upper bound: the growth is below the noise" if self.hvp.bound else "")
            + ")"
        )


def fit_chunk(hvp: LinearCost, available: float, samples: int, cache_primal: bool = False) -> int:
    """The largest chunk (at most ``samples``) whose product fits ``available`` bytes; raises
    when none does (or, with ``cache_primal``, when all samples' activations do not fit)."""
    n = hvp.largest(available, samples)
    if n < 1 or (cache_primal and n < samples):
        need = hvp.at(samples if cache_primal else 1)
        raise ValueError(
            f"hessian.memory_gb: {max(available, 0) / GB:.2f} GB are left for the Hessian "
            f"products, which need {need / GB:.2f} GB"
            + (
                " (cache_primal keeps every sample's activations: set it false)"
                if cache_primal
                else ""
            )
            + "; raise hessian.memory_gb or lower hessian.basis_memory_gb"
        )
    return n


def plan_chunk(
    hvp: LinearCost,
    memory_gb: float,
    held_bytes: float,
    basis_bytes: float,
    basis_memory_gb: float | None,
    samples: int,
    cache_primal: bool = False,
) -> ChunkChoice:
    """The chunk for a product of cost ``hvp`` under ``memory_gb`` GB, after ``held_bytes``
    (weights, buffers, Hessian samples) and the device share of a ``basis_bytes`` basis."""
    on_device = device_basis_bytes(basis_bytes, basis_memory_gb)
    room = room_for_products(memory_gb, held_bytes, basis_bytes, basis_memory_gb)
    n = fit_chunk(hvp, room, samples, cache_primal)
    return ChunkChoice(n, memory_gb, held_bytes + on_device, basis_bytes, on_device, hvp)


def room_for_products(
    memory_gb: float, held_bytes: float, basis_bytes: float, basis_memory_gb: float | None
) -> float:
    """Bytes of ``memory_gb`` GB left for the Hessian products after ``held_bytes`` and the
    device share of a ``basis_bytes`` basis."""
    return memory_gb * GB - held_bytes - device_basis_bytes(basis_bytes, basis_memory_gb)


def auto_chunk(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    memory_gb: float | str,
    probes: int,
    steps: int,
    basis_memory_gb: float | None = None,
    cache_primal: bool = False,
    sizes: Sequence[int] = (1, 2),
) -> ChunkChoice:
    """Measure the product's cost on ``model``'s device at ``sizes`` (grown while too small to
    resolve) and choose the largest chunk whose product fits ``memory_gb`` GB (``auto``:
    :func:`resolve_memory_gb` on the samples' device) minus the weights, the samples ``(x, y)``
    and the device share of ``probes x steps`` basis vectors. Two sizes fit the line, and the
    smallest cost least: on the CPU, measuring a ResNet50 at 2, 4 and 8 samples took as long
    as the spectrum's own products. Sizes grow only while the steepest line their peaks allow
    does not already fit all samples (:func:`per_sample_cost` with ``available``)."""
    memory_gb = resolve_memory_gb(memory_gb, x.device)
    D = HessianOperator(model, x[:1], y[:1]).D
    basis = lanczos_basis_bytes(probes, steps, D)
    held = tensor_bytes([*model.parameters(), *model.buffers(), x, y])
    available = room_for_products(memory_gb, held, basis, basis_memory_gb)
    usable = tuple(s for s in sizes if s <= len(y))
    if len(usable) < 2:  # too few samples to measure: one chunk of all of them
        cost = LinearCost(0.0, 0.0, usable, ())
    else:
        measure = hvp_measure(model, x, y, probes, cache_primal)
        cost = per_sample_cost(measure, usable, len(y), available=available)
    return plan_chunk(cost, memory_gb, held, basis, basis_memory_gb, len(y), cache_primal)


def choose_chunk(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int | str,
    memory_gb: float | str,
    vectors: int,
    steps: int = 0,
    basis_memory_gb: float | None = None,
    cache_primal: bool = False,
) -> tuple[int, ChunkChoice | None]:
    """The samples per chunk of the Hessian products, the one place this is decided:
    ``batch_size`` as given, or for ``auto`` the largest chunk whose products of ``vectors``
    vectors fit ``memory_gb`` beside ``vectors x steps`` basis vectors (:func:`auto_chunk`; its
    reason is printed, and returned as the :class:`ChunkChoice`)."""
    if batch_size != "auto":
        return int(batch_size), None
    if memory_gb == "auto":
        total = device_memory_bytes(x.device)
        print(f"hessian.memory_gb auto: {AUTO_SHARE:g} x {total / GB:.1f} GB of {x.device}")
    choice = auto_chunk(model, x, y, memory_gb, vectors, steps, basis_memory_gb, cache_primal)
    print(choice.reason(), flush=True)
    return choice.batch_size, choice
