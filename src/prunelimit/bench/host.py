"""Host memory of a GPU job, for the cluster profile's ``mem_mb`` (bytes; GB = 1e9).

A CUDA job holds in host memory its Python and CUDA runtime (:data:`RUNTIME_BYTES`, assumed),
the prepared dataset while it loads (uint8 inputs, int64 labels:
:func:`prunelimit.bench.memory.dataset_bytes`) and, in a spectrum, the Lanczos basis blocks
beyond ``basis_memory_gb`` (:class:`prunelimit.curvature.spectrum.Lanczos` keeps a block on the
device while the blocks held fit the budget, then copies each later block to pinned host
memory). PyTorch's pinned-memory allocator rounds every allocation up to a power of two
(``CachingHostAllocator``), so a ResNet50 block of 2 probes x 23.9 M weights x 4 B = 191 MB
takes 268 MB (2^28 B): the spilled basis needs 40 % more host memory than its size.
"""

from __future__ import annotations

from prunelimit.curvature.memory import GB

RUNTIME_BYTES = 4.0 * GB  # a CUDA job's Python, libraries and CUDA context on the host


def pinned_bytes(nbytes: int) -> int:
    """Bytes a pinned host allocation of ``nbytes`` takes: the next power of two."""
    return 1 << (max(int(nbytes), 1) - 1).bit_length()


def spilled_basis_bytes(probes: int, steps: int, D: int, basis_memory_gb: float | None) -> int:
    """Host bytes of the basis blocks a ``steps``-step Lanczos run of ``probes`` float32 vectors
    of length ``D`` spills beyond ``basis_memory_gb`` (None: none spill), pinned."""
    block = probes * D * 4
    if basis_memory_gb is None:
        return 0
    on_device = min(steps, int(basis_memory_gb * GB // block))
    return (steps - on_device) * pinned_bytes(block)


def job_host_bytes(dataset_bytes: int, spilled: int = 0) -> int:
    """A GPU job's host memory: runtime, its dataset and any spilled basis."""
    return int(RUNTIME_BYTES + dataset_bytes + spilled)
