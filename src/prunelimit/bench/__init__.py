"""Benchmarks (``python -m prunelimit.bench.hessian``, ``python -m prunelimit.bench.ntk``).

Speed and memory targets are measured here, not in timed tests.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_it(fn: Callable[[], torch.Tensor], device: torch.device, warmup: int, repeats: int):
    """Median and all wall-clock times (s) of ``fn`` after ``warmup`` calls; its last result."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        out = fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    assert out is not None
    return statistics.median(times), times, out


def sgemm_gflops(n: int = 1024, repeats: int = 5) -> float:
    """This machine's one-thread float32 GEMM rate (GFLOP/s), quoted beside absolute times."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        best, _, _ = time_it(lambda: a @ b, torch.device("cpu"), 1, repeats)
    finally:
        torch.set_num_threads(threads)
    return 2 * n**3 / best / 1e9
