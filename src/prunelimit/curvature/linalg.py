"""Inner products and norms over long float32 vectors (``D`` up to tens of millions), accurate
at any length. Every reduction over ``D`` that decides a number (Lanczos, the local model)
goes through these."""

from __future__ import annotations

import torch


def row_dots(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Inner products of the rows of ``a`` and ``b`` (of two vectors), accurate at any length:
    PyTorch's pairwise (CPU) or tree (CUDA) sum of the products. The BLAS ``torch.dot`` and
    ``Tensor.norm`` in float32 on the CPU accumulate in a few running sums and drift with the
    length: ``Tensor.norm`` of a unit vector is 1 + 2.9e-4 at D = 851k and 1 + 1.5e-2 at
    D = 23.3M (ResNet50); this sum stays within 1e-6."""
    return (a * b).sum(-1)


def row_norms(x: torch.Tensor) -> torch.Tensor:
    """Euclidean norms of the rows of ``x`` (see :func:`row_dots`)."""
    return row_dots(x, x).sqrt()
