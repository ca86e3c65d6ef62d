"""Rank-aware upper bound on the linear regions of a sparse ReLU MLP, and density allocation.

Network: input dimension ``n_0``, hidden ReLU layers of widths ``n_1..n_L`` (the linear output
layer creates no regions and is not part of the bound). ``W_l`` is ``n_l x n_{l-1}``.

**Dense bound** (Serra, Tjandraatmadja, Ramalingam, ICML 2018, Theorem 1)::

    N <= sum_{(j_1..j_L) in J} prod_l binom(n_l, j_l),
    J: 0 <= j_l <= min(n_0, n_1 - j_1, ..., n_{l-1} - j_{l-1}, n_l).

**Sparse bound** (Cai et al., CPAIOR 2023): a layer whose weight matrix has rank ``k_l`` cannot
pass on more than ``k_l`` dimensions, so ``k_l`` joins the caps: with ``d_0 = n_0``,
``j_l <= min(d_{l-1}, k_l)`` and ``d_l = min(d_{l-1}, k_l, n_l - j_l)``; the expected bound
averages over the ranks of independently, randomly pruned layers (each weight kept with
probability ``p_l``). The paper estimates the rank distribution by sampling masked Gaussian
matrices; its public code also offers, and we use, the closed form

    k_l ~ Binomial(m, Q),  m = min(n_l, n_{l-1}),  Q = 1 - (1 - p_l)^{max(n_l, n_{l-1})},

the number of non-empty lines on the short side of ``W_l``. Its law dominates the rank (rank <=
number of non-empty rows and columns), so the bound stays an upper bound on the expectation.
Ours, unlike the public code: the ``k = 0`` mass is kept (the public code drops it), and only
hidden layers are counted (the public code also counts the output units as hyperplanes).
At ``p_l = 1`` the rank is ``m`` surely and the cap is redundant: the sparse bound equals
Serra's.

**Evaluation** (ours): a backward dynamic programme on the incoming dimension ``d`` in log space.
Because ``j <= min(d, k)`` and the next dimension ``min(d, k, n_l - j)`` depend on ``d`` and ``k``
only through ``c = min(d, k)``::

    inner_l(c) = logsumexp_{j=0..c} [log binom(n_l, j) + B_{l+1}(min(c, n_l - j))]
    B_l(d)     = logsumexp_k [log P(k_l = k) + inner_l(min(d, k))],   B_{L+1} = 0,

and the bound is ``exp(B_1(n_0))``. Each layer costs O(n) (prefix sums in log space: see
:func:`_inner` and :func:`_next`), so the allocation search can evaluate it thousands of times.

**Allocation** (ours; the paper searches one free density of a two-hidden-layer net on a grid
with Lagrange interpolation): maximise ``B_1`` over per-layer densities under
``sum_l p_l |W_l| = rho * sum_l |W_l|`` (hidden layers only) by pairwise exchange: repeatedly,
for each pair of layers, move kept weights from one to the other along a grid over the whole
feasible range, refined around the best point, accepting only strict improvements. Starting from
the uniform allocation, so a saturated (flat) bound keeps the uniform densities.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

ALLOCATIONS = ("bound", "uniform", "global")
# The models the bound applies to: plain ReLU MLPs (Linear/ReLU layers only). Kept here, without
# torch, for the workflow's parse; tests/test_regions.py checks it against every built model.
REGION_MODELS = ("mlp", "fc5", "fc12")


def log_binom(n: int, k: np.ndarray | int) -> np.ndarray:
    """``log binom(n, k)`` for integer arrays ``0 <= k <= n``."""
    k = np.asarray(k, dtype=float)
    from scipy.special import gammaln  # here: the DAG and the figure jobs read only constants

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def rank_log_pmf(rows: int, cols: int, density: float) -> np.ndarray:
    """``log P(rank = k)``, ``k = 0..min(rows, cols)``, of a ``rows x cols`` matrix whose
    entries are kept with probability ``density`` (binomial model, see the module docstring)."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    m, long = min(rows, cols), max(rows, cols)
    k = np.arange(m + 1)
    out = np.full(m + 1, -np.inf)
    if density >= 1.0:
        out[m] = 0.0
        return out
    if density <= 0.0:
        out[0] = 0.0
        return out
    log_empty = long * math.log1p(-density)  # log (1 - Q): a line of length `long` is empty
    if log_empty == 0.0:  # density below float resolution: every line empty
        out[0] = 0.0
        return out
    log_q = math.log(-math.expm1(log_empty))
    return log_binom(m, k) + k * log_q + (m - k) * log_empty


def _cumulative_lse(a: np.ndarray) -> np.ndarray:
    """``log sum_{i <= j} exp(a[i])`` for every ``j`` (``-inf`` entries allowed)."""
    return np.logaddexp.accumulate(a) if len(a) else a


def _inner(lb: np.ndarray, nxt: np.ndarray, n: int, cmax: int) -> np.ndarray:
    """``inner(c) = logsumexp_{j=0..c} [lb(j) + nxt(min(c, n - j))]`` for ``c = 0..cmax``
    (``lb``: ``log binom(n, j)``; ``cmax <= n``). Where ``j <= n - c`` the minimum is ``c``:
    a prefix of ``lb`` plus ``nxt(c)``; the other terms, ``lb(j) + nxt(n - j)``, enter from the
    ``c`` at which ``j <= c`` and ``j > n - c`` both hold, ``max(j, n - j + 1)``, and stay:
    a cumulative sum in that order. O(cmax) instead of O(cmax^2)."""
    c = np.arange(cmax + 1)
    low = _cumulative_lse(lb[: cmax + 1])[np.minimum(c, n - c)] + nxt[c]
    j = np.arange(cmax + 1)
    joins = np.maximum(j, n - j + 1)
    j = j[joins <= cmax]
    if not len(j):
        return low
    order = np.argsort(joins[j], kind="stable")
    j, joins = j[order], joins[j][order]
    high = _cumulative_lse(lb[j] + nxt[n - j])
    last = np.searchsorted(joins, c, side="right") - 1  # the last term entered by each c
    with np.errstate(invalid="ignore"):
        return np.logaddexp(low, np.where(last >= 0, high[np.maximum(last, 0)], -np.inf))


def _next(log_p: np.ndarray, inner: np.ndarray, top: int) -> np.ndarray:
    """``B(d) = logsumexp_k [log_p(k) + inner(min(d, k))]`` for ``d = 0..top``: the ranks
    ``k <= d`` (a prefix) and, at ``inner(d)``, the probability of the ranks above ``d`` (a
    suffix)."""
    m = len(log_p) - 1
    d = np.arange(top + 1)
    k = np.arange(m + 1)
    ranks_below = _cumulative_lse(log_p + inner[np.minimum(k, len(inner) - 1)])
    above = np.append(_cumulative_lse(log_p[::-1])[::-1][1:], -np.inf)  # P(k > d), d = 0..m
    upper = np.where(d < m, above[np.minimum(d, m)], -np.inf)
    with np.errstate(invalid="ignore"):
        return np.logaddexp(
            ranks_below[np.minimum(d, m)], upper + inner[np.minimum(d, len(inner) - 1)]
        )


def log_region_bound(
    n0: int, widths: Sequence[int], densities: Sequence[float] | None = None
) -> float:
    """Natural log of the expected rank-aware upper bound on the number of linear regions.

    ``widths``: hidden widths ``n_1..n_L``; ``densities``: kept fraction ``p_l`` of each hidden
    weight matrix (None = dense, Serra's bound).
    """
    widths = [int(n) for n in widths]
    if not widths:
        return 0.0  # no hidden layer: one affine region
    dens = [1.0] * len(widths) if densities is None else [float(p) for p in densities]
    if len(dens) != len(widths):
        raise ValueError(f"{len(widths)} hidden layers but {len(dens)} densities")
    ins = [int(n0), *widths[:-1]]
    # the largest dimension that can enter layer l: min(n_0, ..., n_{l-1})
    dmax = list(itertools.accumulate(ins, min))
    nxt = np.zeros(int(n0) + 1)  # B_{L+1}(d) = log 1 for every d
    for layer in reversed(range(len(widths))):
        n, n_in, top = widths[layer], ins[layer], dmax[layer]
        log_p = rank_log_pmf(n, n_in, dens[layer])
        cmax = min(top, len(log_p) - 1)
        inner = _inner(log_binom(n, np.arange(cmax + 1)), nxt, n, cmax)
        nxt = _next(log_p, inner, top)
    return float(nxt[int(n0)])


def hidden_sizes(n0: int, widths: Sequence[int]) -> list[int]:
    """``|W_l|`` of the hidden layers."""
    ins = [n0, *widths[:-1]]
    return [a * b for a, b in zip(ins, widths, strict=True)]


def allocate(
    n0: int,
    widths: Sequence[int],
    rho: float,
    grid: int = 17,
    refinements: int = 3,
    max_rounds: int = 20,
    tol: float = 1e-6,
) -> tuple[np.ndarray, float]:
    """Per-layer densities maximising :func:`log_region_bound` at global density ``rho``.

    Returns (densities, log bound). The constraint ``sum_l p_l |W_l| = rho * sum_l |W_l|``
    holds up to floating point; see :func:`kept_counts` for integer counts.
    """
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"rho must be in (0, 1], got {rho}")
    sizes = np.array(hidden_sizes(n0, widths), dtype=float)
    kept = rho * sizes  # continuous kept counts, uniform start

    def value(k: np.ndarray) -> float:
        return log_region_bound(n0, widths, np.clip(k / sizes, 0.0, 1.0))

    best = value(kept)
    for _ in range(max_rounds):
        improved = False
        for a, b in itertools.combinations(range(len(sizes)), 2):
            lo = max(-kept[a], kept[b] - sizes[b])  # t = kept weights moved from b to a
            hi = min(sizes[a] - kept[a], kept[b])
            centre, half = 0.0, (hi - lo)
            for _ in range(refinements + 1):
                if half <= 0:
                    break
                base, best_t = kept, 0.0
                for t in np.unique(
                    np.clip(np.linspace(centre - half, centre + half, grid), lo, hi)
                ):
                    trial = base.copy()
                    trial[a] += t
                    trial[b] -= t
                    v = value(trial)
                    if v > best + tol:
                        best, kept, best_t, improved = v, trial, t, True
                centre, half = best_t, 2 * half / (grid - 1)
        if not improved:
            break
    return np.clip(kept / sizes, 0.0, 1.0), best


def kept_counts(densities: Sequence[float], sizes: Sequence[int], total: int) -> list[int]:
    """Integer kept counts per layer near ``densities * sizes`` summing exactly to ``total``
    (largest remainders; no layer above its size)."""
    sizes = np.asarray(sizes, dtype=int)
    if not 0 <= total <= sizes.sum():
        raise ValueError(f"total must be in [0, {sizes.sum()}], got {total}")
    densities = np.asarray(densities, dtype=float)
    if not np.isfinite(densities).all():
        raise FloatingPointError(f"layer densities are not finite: {densities.tolist()}")
    target = np.clip(densities, 0, 1) * sizes
    if not target.sum() >= 1e-9:
        target = sizes.astype(float)  # no usable proportions (all ~0): spread uniformly
    target *= total / target.sum()
    counts = np.minimum(np.floor(target).astype(int), sizes)
    while counts.sum() < total:  # hand out the rest by largest remainder, where there is room
        room = counts < sizes
        rem = np.where(room, target - counts, -np.inf)
        counts[int(np.argmax(rem))] += 1
    while counts.sum() > total:
        rem = np.where(counts > 0, target - counts, np.inf)
        counts[int(np.argmin(rem))] -= 1
    return counts.tolist()
