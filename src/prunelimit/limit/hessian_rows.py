"""Rows of the Hessian at ``w*`` along the magnitude order (Zhang et al., appendix: the L1 norm
of the Hessian rows of the weights at the pruning thresholds).

Convention: the prunable weights are ranked by magnitude in the pruning order of
:func:`prunelimit.pruning.magnitude_ranks` (rank 0 is pruned first). For each pruned fraction
``q = j / count`` (``j = 0..count-1``), the weight of rank ``floor(q D)`` is the smallest one
kept at kept ratio ``rho = 1 - q``: the weight at the magnitude threshold. Its Hessian row
``H e_i`` is one exact Hessian-vector product
(:class:`prunelimit.curvature.operator.HessianOperator`: the mean training cross-entropy over the
Hessian samples, prunable weights only). Recorded per row: ``||H e_i||_1``, the diagonal ``H_ii``
and ``|w_i|``. A row of small L1 norm means that removing that weight alone changes the gradient,
and so the loss, little.

The public code sums ``|row|`` of each mini-batch's Hessian and divides by the sample count;
this module takes the L1 norm of the row of the whole Hessian (the mean over the samples).
"""

from __future__ import annotations

import numpy as np
import torch

from prunelimit.curvature.operator import HessianOperator
from prunelimit.pruning import magnitude_ranks


def threshold_indices(w: torch.Tensor, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The pruned fractions ``q = j / count`` and the flat index of the weight of rank
    ``floor(q D)`` in the magnitude order of ``w`` (flat, the prunable weights)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    ranks = magnitude_ranks(w.reshape(-1))
    order = torch.empty_like(ranks)
    order[ranks] = torch.arange(ranks.numel(), device=ranks.device)  # order[r]: index of rank r
    q = np.arange(count) / count
    rank = threshold_ranks(ranks.numel(), count)
    idx = order[torch.as_tensor(rank, device=ranks.device)]
    return q, idx.cpu().numpy()


def threshold_ranks(D: int, count: int) -> np.ndarray:
    """``floor(j D / count)`` for ``j = 0..count-1``, in integers (``floor(0.29 * 100)`` in
    floats is 28)."""
    return np.arange(count, dtype=np.int64) * D // count


def hessian_rows(op: HessianOperator, w: torch.Tensor, count: int, block: int = 4) -> dict:
    """The Hessian rows of the ``count`` threshold weights (module docstring), ``block`` rows
    per batched product. ``w``: the operator's flat weights (``op.D`` entries, its order).

    Returns lists over the rows, in increasing ``q``: ``q`` (pruned fraction), ``rank``,
    ``index`` (flat), ``magnitude`` (``|w_i|``), ``row_l1`` (``||H e_i||_1``), ``diagonal``
    (``H_ii``); with ``D``, ``samples`` and ``n_hvp``."""
    w = w.reshape(-1)
    if w.numel() != op.D:
        raise ValueError(f"w has {w.numel()} entries, the Hessian operator {op.D}")
    q, idx = threshold_indices(w, count)
    row_l1, diagonal = [], []
    for start in range(0, len(idx), block):
        part = torch.as_tensor(idx[start : start + block], device=op.device)
        E = torch.zeros(len(part), op.D, device=op.device, dtype=w.dtype)
        E[torch.arange(len(part), device=op.device), part] = 1.0
        rows = op.matvec(E).double()
        row_l1 += rows.abs().sum(dim=1).tolist()
        diagonal += rows[torch.arange(len(part), device=op.device), part].tolist()
        print(f"Hessian rows {start + len(part)}/{len(idx)}", flush=True)
    return {
        "q": q.tolist(),
        "rank": threshold_ranks(op.D, count).tolist(),
        "index": idx.astype(int).tolist(),
        "magnitude": w.detach().abs().double().cpu().numpy()[idx].tolist(),
        "row_l1": row_l1,
        "diagonal": diagonal,
        "D": int(op.D),
        "samples": int(op.n),
        "n_hvp": int(op.n_hvp),
    }
