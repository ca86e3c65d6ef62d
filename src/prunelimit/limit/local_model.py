"""The local model of the loss along the pruning path: which assumption of the theory breaks.

The theory replaces the training cross-entropy ``L`` near ``w*`` by its quadratic model with a
zero gradient. Along the one-shot pruning path, ``u = w_rho - w*`` is minus the removed weights
(global magnitude, the package's one tie rule), and (ours) we compare the measured rise
``L(w_rho) - L(w*)`` with

- the first-order term ``g^T u`` (``g = grad L(w*)``, full batch, prunable weights);
- the quadratic term ``u^T H u / 2`` (``H`` the Hessian of :mod:`prunelimit.curvature.operator`,
  over the same samples), at the marked points only (one Hessian-vector product each);
- their sum, the second-order model.

Derivation (ours, docs/theory.md "The local model along the pruning path"): ``w*`` minimises
``L(w) + lambda ||w||_1``, so where ``w*_i != 0``, ``g_i = -lambda sign(w*_i)`` and
``g^T u = lambda ||w*_removed||_1 >= 0``: the cross-entropy rises at first order by ``lambda``
times the l1 norm of what was removed, a term the theory's model does not have. For the
l1-regularised objective the change of the penalty is exactly ``-lambda ||w*_removed||_1``, so
it cancels that term. ``stationarity`` (of :mod:`prunelimit.limit.regime`) measures how far ``w*``
is from that balance.
All rises are also given in units of ``eps``; kept ratios ``rho`` are fractions of ``D``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence

import torch
from torch import nn

from prunelimit.curvature.linalg import row_dots
from prunelimit.curvature.operator import HessianOperator
from prunelimit.limit.regime import stationarity
from prunelimit.pruning import keep_count, magnitude_ranks


def pruning_directions(
    w: torch.Tensor, keeps: Sequence[int], ranks: torch.Tensor | None = None
) -> torch.Tensor:
    """``u = w_rho - w*`` (k, D) for each kept count: minus the weights global magnitude
    pruning removes from the flat prunable weights ``w`` (``ranks``:
    :func:`prunelimit.pruning.magnitude_ranks` of ``w``, computed here if not given)."""
    ranks = magnitude_ranks(w) if ranks is None else ranks
    cut = [w.numel() - int(keep) for keep in keeps]
    return torch.stack([torch.where(ranks >= c, torch.zeros_like(w), -w) for c in cut])


def quadratic_terms(hvp: Callable[[torch.Tensor], torch.Tensor], U: torch.Tensor) -> torch.Tensor:
    """``diag(U H U^T) / 2``: the quadratic term of each row of ``U`` (one product per row)."""
    return 0.5 * row_dots(U, hvp(U))


def _nearest_points(curve: list[dict], marks: dict[str, float]) -> dict[str, int]:
    """Label -> index of the ``curve`` point whose kept ratio is nearest the mark's (the first
    such point on a tie)."""
    return {
        label: min(range(len(curve)), key=lambda j, r=rho: abs(curve[j]["rho"] - r))
        for label, rho in marks.items()
    }


def _terms_along(
    op: HessianOperator,
    g: torch.Tensor,
    w: torch.Tensor,
    curve: list[dict],
    marked: Collection[int],
) -> tuple[list[float], dict[int, float]]:
    """The first-order term ``g^T u`` at every point of ``curve`` and the quadratic term
    ``u^T H u / 2`` at the ``marked`` indices (``w``: flat prunable weights of ``op``, ``g``: the
    gradient there). One direction at a time, each built once from one magnitude sort; one
    Hessian-vector product at a time: the memory of one tangent pass."""
    ranks = magnitude_ranks(w)  # one sort for every point of the (nested) path
    first, quadratic = [], {}
    for j, row in enumerate(curve):
        u = pruning_directions(w, [keep_count(row["rho"], op.D)], ranks)
        first.append(float(row_dots(u[0], g)))
        if j in marked:
            quadratic[j] = float(quadratic_terms(op.matvec, u)[0])
    return first, quadratic


def _first_order_break(
    rho: list[float], measured: list[float], first: list[float], eps: float
) -> float:
    """The largest kept ratio where the first-order model's error ``|measured - first|``
    exceeds ``eps`` (NaN: nowhere)."""
    errors = sorted(zip(rho, measured, first, strict=True), key=lambda r: -r[0])
    broken = [r for r, m, f in errors if abs(m - f) > eps]
    return broken[0] if broken else math.nan


def _marked_terms(
    result: dict, nearest: dict[str, int], quadratic: dict[int, float], penalty: list[float]
) -> dict[str, dict[str, float]]:
    """Label -> every term at its nearest curve point, in units of ``eps`` (``result``: the
    per-point lists of :func:`local_model_along_curve`; ``penalty``: the change of the l1
    penalty at each point)."""
    eps, first = result["eps"], result["first_order"]
    out = {}
    for label, j in nearest.items():
        quad = quadratic[j]
        out[label] = {
            "rho": result["rho"][j],
            "measured": result["measured"][j] / eps,
            "first_order": first[j] / eps,
            "quadratic": quad / eps,
            "model": (first[j] + quad) / eps,
            "objective_measured": result["objective_measured"][j] / eps,
            "objective_model": (first[j] + quad + penalty[j]) / eps,
        }
    return out


def local_model_along_curve(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    curve: list[dict],
    unpruned: dict,
    eps: float,
    l1: float,
    marks: dict[str, float],
    batch_size: int = 1024,
) -> dict:
    """The measured rises of the pruning ``curve`` (rows of
    :func:`prunelimit.limit.actual.pruning_curve`) beside the local model at ``w*``, over
    ``(x, y)`` (the training split the curve measures ``L`` on).

    The first-order term costs one gradient for the whole curve and is recorded at every point;
    the quadratic term costs one Hessian-vector product per point, so it is recorded at the
    curve points nearest to ``marks`` (label -> kept ratio: ``rho_th`` and the actual limits),
    one product at a time over chunks of ``batch_size`` samples (memory as the spectrum's).
    Returns per point ``rho``, ``measured``, ``first_order`` and, for the l1 objective,
    ``objective_measured`` and ``objective_first_order`` (with the exact penalty change
    ``-lambda ||w_removed||_1``), each also in units of ``eps`` (``*_eps``);
    ``rho_first_order_breaks`` (the largest kept ratio where the first-order model's error
    exceeds ``eps``); ``marks`` (label -> every term at that point, in units of ``eps``);
    ``stationarity`` (:func:`prunelimit.limit.regime.stationarity` of ``w*`` from the same gradient)
    and ``seconds``.
    """
    t0 = time.perf_counter()
    op = HessianOperator(model, x, y, batch_size=batch_size)
    g = op.gradient()
    w = op.flatten(op.w0)
    nearest = _nearest_points(curve, marks)
    first, quadratic = _terms_along(op, g, w, curve, nearest.values())
    measured = [row["train_loss"] - unpruned["train_loss"] for row in curve]
    objective = [row["objective"] - unpruned["objective"] for row in curve]
    penalty = [-l1 * row["removed_l1"] for row in curve]
    result: dict = {
        "rho": [row["rho"] for row in curve],
        "measured": measured,
        "first_order": first,
        "objective_measured": objective,
        "objective_first_order": [f + p for f, p in zip(first, penalty, strict=True)],
        "eps": eps,
        "l1": l1,
        "samples": len(y),
    }
    for key in ("measured", "first_order", "objective_measured", "objective_first_order"):
        result[f"{key}_eps"] = [v / eps for v in result[key]]
    result["rho_first_order_breaks"] = _first_order_break(result["rho"], measured, first, eps)
    result["marks"] = _marked_terms(result, nearest, quadratic, penalty)
    values = first + list(quadratic.values())
    if not all(math.isfinite(v) for v in values):
        raise FloatingPointError("non-finite local-model terms along the pruning curve")
    result["stationarity"] = stationarity([g], [w], l1) if l1 > 0 else None
    result["seconds"] = time.perf_counter() - t0
    return result
