"""Infinite-width NTK of the dense bias-free ReLU MLP (Arora et al. 2019 parametrisation, see
:mod:`prunelimit.ntk.network`) by the arc-cosine recursion, all in float64: with
``S_0 = s^2 <x, y>``, ``S_h = (sqrt(|x|^2|y|^2 - S^2) + S (pi - arccos(S / (|x||y|)))) / pi``
(``= (sqrt(1 - S^2) + S asin S) / pi + S / 2`` for unit correlations),
``Sdot_h = 1/2 + asin(S_{h-1} / (|x||y|)) / pi`` and
``Theta = sum_{h=0..L} S_h prod_{h'=h+1..L} Sdot_{h'}``, where ``L = depth`` is the number of
hidden layers; ``Theta = 2.42873`` for unit inputs with ``<x, y> = 0.7688`` and ``L = 3``.
Without rescaling the pruned NTK converges to ``(1 - p)^L Theta`` (one factor ``1 - p`` per
pruned layer), with it to ``Theta`` (:func:`limit_scale`).
"""

from __future__ import annotations

import math

import torch


def _ntk_from_correlation(rho: torch.Tensor, depth: int) -> torch.Tensor:
    """Limit NTK for inputs of unit norm with correlations ``rho`` (any shape, float64)."""
    s = rho.clamp(-1.0, 1.0)
    theta = s.clone()
    for _ in range(depth):
        sdot = 0.5 + torch.asin(s) / math.pi
        s = (torch.sqrt((1.0 - s * s).clamp_min(0.0)) + s * torch.asin(s)) / math.pi + s / 2
        s = s.clamp(-1.0, 1.0)
        theta = theta * sdot + s
    return theta


def analytic_ntk(inner: float, depth: int) -> float:
    """Infinite-width NTK ``Theta(x, y)`` of the dense net for unit inputs with ``<x, y> = inner``.

    ``depth`` is the number of hidden layers ``L``; ``analytic_ntk(0.7688, 3) = 2.42873``.
    """
    if not -1.0 <= inner <= 1.0:
        raise ValueError(f"inner product of unit inputs must be in [-1, 1], got {inner}")
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    return float(_ntk_from_correlation(torch.tensor(inner, dtype=torch.float64), depth))


def analytic_ntk_gram(
    x1: torch.Tensor, x2: torch.Tensor | None = None, *, depth: int, input_scale: float = 1.0
) -> torch.Tensor:
    """Infinite-width NTK Gram matrix ``(N1, N2)`` (float64) of the dense net for any inputs.

    Inputs are flattened to ``(N, features)``. ReLU is positively homogeneous, so
    ``Theta(x, y) = s^2 |x| |y| Theta_unit(cos(x, y))`` with ``s = input_scale``; a zero input
    has zero kernel.
    """
    a = x1.detach().flatten(1).to(torch.float64).cpu()
    b = a if x2 is None else x2.detach().flatten(1).to(torch.float64).cpu()
    na, nb = a.norm(dim=1), b.norm(dim=1)
    norms = na[:, None] * nb[None, :]
    rho = torch.where(norms > 0, (a @ b.T) / norms.clamp_min(1e-300), torch.zeros_like(norms))
    return input_scale**2 * norms * _ntk_from_correlation(rho, depth)


def limit_scale(p: float, depth: int, rescaled: bool) -> float:
    """Factor between the pruned and the dense NTK limit: ``1`` rescaled, else ``(1-p)^depth``."""
    return 1.0 if rescaled else (1.0 - p) ** depth


def two_unit_inputs(inner: float, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rows ``x = e_1``, ``y = inner e_1 + sqrt(1 - inner^2) e_2``: unit norm, ``<x, y> = inner``.

    The NTK distribution at Gaussian init is rotation invariant, so the basis is immaterial.
    """
    if dim < 2:
        raise ValueError("need input dim >= 2")
    x = torch.zeros(2, dim, dtype=torch.float64)
    x[0, 0] = 1.0
    x[1, 0], x[1, 1] = inner, math.sqrt(1.0 - inner * inner)
    return x.to(dtype)
