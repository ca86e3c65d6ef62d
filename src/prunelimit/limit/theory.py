"""The theoretical pruning limit and its bounds (derivation: docs/theory.md).

Under the quadratic approximation of the loss at ``w*`` the pruned point ``w_rho`` (the
``rho*D`` largest ``|w*|`` kept) sees the loss sublevel ellipsoid ``{L <= L(w*) + eps}`` as a cone
whose statistical dimension is ``delta(R) = sum_i 2 eps / (2 eps + R^2 |lambda_i|)`` with
``R = ||w* - w_rho||_2``. The phase transition ``delta + rho*D = D`` gives the theoretical kept
ratio ``rho_th``, the root of ``g(rho) = 1 - delta(R(rho))/D - rho``.

The spectrum enters only through a spectral measure: Ritz nodes ``theta`` and weights ``tau``
(k probes x m nodes, weights of a probe summing to 1), ``delta/D = mean_probes sum_j tau_j
f(theta_j)``. Negative eigenvalues: ``abs`` uses ``|theta|``, ``clip`` uses ``max(theta, 0)``.

Bounds (Jensen's inequality and the chord of the convex ``lambda -> 2eps/(2eps + R^2 lambda)``
on ``[0, lambda_max]``), with ``T = D * mean sum tau lambda`` and ``lambda_max = max lambda`` of
the same measure, so they hold exactly for it:
``rho_L(rho) = R^2 T / (D (2eps + R^2 lambda_max)) <= 1 - delta/D <= R^2 T / (R^2 T + 2 eps D)``.
All three sides fall as ``rho`` grows; their fixed points are ordered ``rho_L* <= rho_th <=
rho_U*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from prunelimit.curvature.spectrum import prefix, ritz
from prunelimit.pruning import removed_norm, removed_sq_tail

NEGATIVE = ("abs", "clip")


def check_eps(eps: float) -> None:
    """Raise unless the loss tolerance is finite and positive."""
    if not (math.isfinite(eps) and eps > 0):
        raise FloatingPointError(f"the loss tolerance eps must be finite and > 0, got {eps}")


def check_finite(nodes: np.ndarray, weights: np.ndarray, eps: float) -> None:
    """Raise on a spectrum (Ritz nodes and weights, or Lanczos coefficients) or tolerance that
    would turn into a plausible-looking limit."""
    if not (np.all(np.isfinite(np.asarray(nodes, float))) and np.all(np.isfinite(weights))):
        raise FloatingPointError(
            "the Hessian spectrum has non-finite Ritz nodes or weights (NaN/inf in the "
            "spectrum file): recompute it; the theoretical limit would be meaningless"
        )
    check_eps(eps)


def effective_eigenvalues(nodes: np.ndarray, negative: str = "abs") -> np.ndarray:
    if negative == "abs":
        return np.abs(nodes)
    if negative == "clip":
        return np.clip(nodes, 0.0, None)
    raise ValueError(f"negative must be one of {NEGATIVE}, got {negative!r}")


def delta_fraction(
    R2: np.ndarray | float,
    nodes: np.ndarray,
    weights: np.ndarray,
    eps: float,
    negative: str = "abs",
) -> np.ndarray:
    """``delta(R)/D`` by quadrature over the SLQ nodes, for each squared radius in ``R2``."""
    lam = effective_eigenvalues(np.asarray(nodes, float), negative)[None]  # (1, k, m)
    w = np.asarray(weights, float)[None]
    r2 = np.atleast_1d(np.asarray(R2, float))[:, None, None]
    f = 2 * eps / (2 * eps + r2 * lam)
    return (w * f).sum(-1).mean(-1)


def measure_moments(
    nodes: np.ndarray, weights: np.ndarray, D: int, negative: str = "abs"
) -> tuple[float, float]:
    """``T`` (trace) and ``lambda_max`` of the measure used by the bounds."""
    lam = effective_eigenvalues(np.asarray(nodes, float), negative)
    w = np.asarray(weights, float)
    return float(D * (w * lam).sum(1).mean()), float(lam[w > 0].max(initial=0.0))


def bound_values(R2: np.ndarray, T: float, lam_max: float, D: int, eps: float):
    """``(rho_L, rho_U)`` as functions of the squared radius ``R2`` (arrays)."""
    R2 = np.asarray(R2, float)
    lower = R2 * T / (D * (2 * eps + R2 * lam_max))
    upper = R2 * T / (R2 * T + 2 * eps * D)
    return lower, upper


def smallest_feasible_count(g: Callable[[int], float], D: int) -> int:
    """Smallest integer ``k`` in ``[0, D]`` with ``g(k) <= 0`` for a non-increasing ``g``
    (bisection; ``D`` if none)."""
    lo, hi = 0, D
    if g(0) <= 0:
        return 0
    while hi - lo > 1:  # invariant: g(lo) > 0, g(hi) <= 0 (g(D) <= 0 assumed)
        mid = (lo + hi) // 2
        if g(mid) <= 0:
            hi = mid
        else:
            lo = mid
    return hi


def pruning_limit(
    sorted_mags: torch.Tensor,
    nodes: np.ndarray,
    weights: np.ndarray,
    eps: float,
    negative: str = "abs",
) -> dict:
    """``rho_th`` and its bounds for weights with decreasing magnitudes ``sorted_mags``.

    Each kept ratio is resolved to ``1/D``: the smallest ``k/D`` with ``rho >= 1 - delta/D``
    (resp. the bound) is returned.
    """
    return _limit_of_tail(removed_sq_tail(sorted_mags), nodes, weights, eps, negative)


def _limit_of_tail(
    tail: torch.Tensor, nodes: np.ndarray, weights: np.ndarray, eps: float, negative: str
) -> dict:
    """:func:`pruning_limit` from the removed-squares tail of the weights."""
    check_finite(nodes, weights, eps)
    D = tail.numel() - 1
    T, lam_max = measure_moments(nodes, weights, D, negative)

    def R2(k: int) -> float:
        return float(tail[k])

    k_th = _limit_count(tail, nodes, weights, eps, negative)

    def g_bound(which: int) -> Callable[[int], float]:
        return lambda k: float(bound_values(R2(k), T, lam_max, D, eps)[which]) - k / D

    k_lo = smallest_feasible_count(g_bound(0), D)
    k_up = smallest_feasible_count(g_bound(1), D)
    return {
        "rho_th": k_th / D,
        "rho_lower": k_lo / D,
        "rho_upper": k_up / D,
        "bound_gap": (k_up - k_lo) / D,
        "trace_measure": T,
        "lambda_max_measure": lam_max,
        "R_at_rho_th": R2(k_th) ** 0.5,
    }


def magnitude_scaling(
    sorted_mags: torch.Tensor,
    nodes: np.ndarray,
    weights: np.ndarray,
    eps: float,
    negative: str,
    factors: Sequence[float],
) -> list[dict]:
    """The key factor "weight magnitude" (Zhang et al.): :func:`pruning_limit` of the weights
    scaled by each of ``factors`` (``c |w*|``), with the spectrum of ``H`` and ``eps`` held.
    Only the removed magnitudes ``R(rho)`` change (by ``c``), so ``rho_th`` can only grow with
    ``c``. One record per factor: ``factor``, ``rho_th``, ``rho_lower``, ``rho_upper``. The
    scaled weights' removed squares are ``c^2`` times the weights' (one tail for all factors)."""
    out, tail = [], removed_sq_tail(sorted_mags)
    for c in factors:
        if not c > 0:
            raise ValueError(f"magnitude factors must be positive, got {c}")
        scaled = tail if c == 1 else tail * float(c) ** 2
        lim = _limit_of_tail(scaled, nodes, weights, eps, negative)
        out.append(
            {"factor": float(c), **{k: lim[k] for k in ("rho_th", "rho_lower", "rho_upper")}}
        )
    return out


def _limit_count(
    tail: torch.Tensor, nodes: np.ndarray, weights: np.ndarray, eps: float, negative: str
) -> int:
    """``rho_th * D``: the smallest ``k`` with ``k/D >= 1 - delta(R(k))/D`` (``tail`` from
    :func:`~prunelimit.pruning.removed_sq_tail`)."""
    D = tail.numel() - 1

    def g(k: int) -> float:
        return 1.0 - float(delta_fraction(float(tail[k]), nodes, weights, eps, negative)[0]) - k / D

    return smallest_feasible_count(g, D)


def _prefix_limit(tail, alpha, beta, size, j: int, eps: float, negative: str) -> float:
    """``rho_th`` from the first ``j`` Lanczos steps."""
    nodes, weights = ritz(*prefix(alpha, beta, size, j))
    return _limit_count(tail, nodes, weights, eps, negative) / (tail.numel() - 1)


def lanczos_convergence(
    sorted_mags: torch.Tensor,
    alpha: np.ndarray,
    beta: np.ndarray,
    size: np.ndarray,
    eps: float,
    negative: str,
    tol: float,
    points: int = 40,
) -> dict:
    """``rho_th`` after ``j`` Lanczos steps for ``points`` prefixes ``j <= m`` of one run (the
    leading ``j x j`` blocks of its tridiagonal matrices: exactly what a ``j``-step run on the
    same probes gives), and the verdict ``converged``: ``|rho_th(m) - rho_th(m // 2)| <= tol``;
    ``spread_second_half`` is the range of ``rho_th`` over the recorded ``j >= m // 2``
    (``points=0``: only the two steps of the verdict).
    """
    check_finite(alpha, beta, eps)
    return _convergence(removed_sq_tail(sorted_mags), alpha, beta, size, eps, negative, tol, points)


def _convergence(tail, alpha, beta, size, eps: float, negative: str, tol: float, points: int):
    """:func:`lanczos_convergence` from the removed-squares tail (computed once per weights)."""
    m = np.asarray(alpha).shape[1]
    steps = np.unique(np.round(np.linspace(1, m, points)).astype(int))
    steps = sorted({*steps.tolist(), max(m // 2, 1), m})
    rho = [_prefix_limit(tail, alpha, beta, size, j, eps, negative) for j in steps]
    half = steps.index(max(m // 2, 1))
    change = abs(rho[-1] - rho[half])
    return {
        "steps": steps,
        "rho_th": rho,
        "change_from_half": change,
        "spread_second_half": max(rho[half:]) - min(rho[half:]),
        "tol": tol,
        "converged": bool(change <= tol),
    }


def converged_check(
    sorted_mags: torch.Tensor, eps: float, negative: str, tol: float
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], bool]:
    """The stopping rule of ``lanczos_steps: auto``: after ``m`` steps, is ``|rho_th(m) -
    rho_th(m // 2)| <= tol``? (the verdict of :func:`lanczos_convergence`)."""

    tail = removed_sq_tail(sorted_mags)  # once: the weights do not change between checks

    def converged(alpha: np.ndarray, beta: np.ndarray, size: np.ndarray) -> bool:
        check_finite(alpha, beta, eps)
        conv = _convergence(tail, alpha, beta, size, eps, negative, tol, points=0)
        (half, full), m = conv["rho_th"][-2:], conv["steps"][-1]
        print(f"  Lanczos: rho_th {full:.4%} at m = {m}, {half:.4%} at m/2", flush=True)
        return conv["converged"]

    return converged


def theory_curve(
    sorted_mags: torch.Tensor,
    nodes: np.ndarray,
    weights: np.ndarray,
    eps: float,
    negative: str = "abs",
    rhos: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """``1 - delta/D``, ``rho_L``, ``rho_U`` and ``R`` on a grid of kept ratios (for figures)."""
    D = sorted_mags.numel()
    rhos = np.geomspace(1.0 / D, 1.0, 60) if rhos is None else np.asarray(rhos)
    ks = np.clip(np.round(rhos * D).astype(int), 0, D)
    R = removed_norm(sorted_mags, torch.as_tensor(ks)).numpy()
    T, lam_max = measure_moments(nodes, weights, D, negative)
    lower, upper = bound_values(R**2, T, lam_max, D, eps)
    one_minus_delta = 1.0 - delta_fraction(R**2, nodes, weights, eps, negative)
    return {
        "rho": (ks / D).tolist(),
        "R": R.tolist(),
        "one_minus_delta": one_minus_delta.tolist(),
        "rho_lower": lower.tolist(),
        "rho_upper": upper.tolist(),
    }


def auto_eps(minibatch_losses: torch.Tensor) -> float:
    """The automatic loss tolerance: standard deviation of the mini-batch training losses."""
    if minibatch_losses.numel() < 2:
        raise ValueError("eps=auto needs at least two mini-batches; set theory.eps to a number")
    if not bool(torch.isfinite(minibatch_losses).all()):
        raise FloatingPointError("eps=auto: a mini-batch loss at w* is not finite")
    return float(minibatch_losses.std(unbiased=True))
