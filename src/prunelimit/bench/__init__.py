"""Benchmarks (``python -m prunelimit.bench.hessian``, ``python -m prunelimit.bench.ntk``).

Speed and memory targets are measured here, not in timed tests.
"""

from __future__ import annotations

import statistics
import threading
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


class PeakMemory:
    """Peak memory above the level at entry while the block runs: CUDA allocator peak on a GPU,
    else resident set size sampled every 5 ms (``peak_mb``)."""

    def __init__(self, device: torch.device):
        self.device, self.peak_mb = device, 0.0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            import psutil

            self._proc = psutil.Process()
            self._base = self._proc.memory_info().rss
            self._stop = threading.Event()
            self._max = self._base

            def sample() -> None:
                while not self._stop.is_set():
                    self._max = max(self._max, self._proc.memory_info().rss)
                    time.sleep(0.005)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            peak = self._max
        self.peak_mb = (peak - self._base) / 2**20


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
