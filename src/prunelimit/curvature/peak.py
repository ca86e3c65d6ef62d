"""Peak memory of a call: what it adds above what was allocated when it started (bytes).

On CUDA the allocator's peak (``max_memory_allocated``) minus the bytes allocated at entry; on
the CPU (Linux) the resident high-water mark ``VmHWM``, reset by writing ``5`` to
``/proc/self/clear_refs``, minus ``VmRSS`` at entry (freed heap memory is first returned to the
system with ``malloc_trim``, and large blocks are always mapped on their own: see
:func:`_fix_mmap_threshold`, so a call cannot reuse them unseen).
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")


def _status(key: str) -> int:
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
MMAP_THRESHOLD = 128 * 1024  # bytes: glibc's initial threshold, held fixed while measuring
# bytes: after a measurement, the most glibc's own threshold rises to on 64-bit (and the trim
# threshold it keeps at twice that), so that a job computes as fast as one that never measured
MMAP_THRESHOLD_AFTER = 32 * 2**20


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: freed heap memory may be reused unseen
        return None


def _trim() -> None:
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _fix_mmap_threshold() -> None:
    """Serve every allocation above 128 kB by its own ``mmap`` (glibc). glibc otherwise raises
    its threshold as large blocks are freed, and later tensors land on the heap where the
    resident high-water mark sees them or not depending on what was freed before: peaks of one
    training step at the same batch then differ by 50 MB or more. Process-wide; the cost is a
    page fault per fresh page of a large tensor, until :func:`_release_mmap_threshold`."""
    _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def _release_mmap_threshold() -> None:
    """Undo :func:`_fix_mmap_threshold` after a measurement, as far as glibc allows: its own
    threshold stops adjusting once set, so it is set where it would settle (32 MiB), and the
    trim threshold to twice that. Held at 128 kB, every large tensor of the job's later work
    would be page-faulted in afresh: a ResNet50 Hessian-vector product on the CPU took 43 %
    longer that way, with four times the page faults."""
    _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_AFTER)
    _mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_AFTER)


def _mallopt(parameter: int, value: int) -> None:
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(parameter, value)


class PeakMemory:
    """Context manager: the peak bytes the block adds above what was allocated at entry
    (``peak_bytes``; ``peak_mb`` in MiB). CUDA: allocator peak minus allocated at entry. CPU:
    needs Linux ``/proc`` (resident high-water mark, reset at entry, minus resident bytes at
    entry)."""

    def __init__(self, device: str | torch.device):
        self.device, self.peak_bytes = torch.device(device), 0

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        if not Path("/proc/self/clear_refs").exists():
            raise RuntimeError("CPU peak memory needs Linux /proc/self/clear_refs")
        _fix_mmap_threshold()
        _trim()
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
        self._base = _status("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        else:
            peak = _status("VmHWM")
            _release_mmap_threshold()
        self.peak_bytes = int(max(0, peak - self._base))


def peak_memory(fn: Callable[[], T], device: str | torch.device) -> tuple[T, int]:
    """``fn()`` and the peak bytes it added above what was allocated when it started
    (:class:`PeakMemory`)."""
    with PeakMemory(device) as mem:
        out = fn()
    return out, mem.peak_bytes
