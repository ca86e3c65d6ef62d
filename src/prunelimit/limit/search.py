"""Search for the actual pruning limit: the smallest feasible kept ratio on a grid.

Kept ratios live on the grid ``rho = i * resolution`` (``i = 1 .. 1/resolution``; 0.1 % of D
by default, the paper's grid). A *feasibility* predicate is evaluated lazily and cached:

1. coarse scan at ``coarse_points`` log-spaced grid points between ``rho_min`` and 1;
2. the bracket is ``(r_{j-1}, r_j]`` where ``r_j`` is the smallest coarse point above which
   every coarse point is feasible (``rho = 1`` is the unpruned network, feasible by definition);
3. bisection inside the bracket down to one grid step.

For a monotone curve the result is exactly the smallest feasible grid point, in about
``coarse_points + log2(bracket / resolution)`` evaluations. For a non-monotone curve it is the
feasibility boundary just below the region where every scanned ratio is feasible; isolated
feasible coarse points below it are reported, not hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LimitSearch:
    """Result: the limit (grid index and kept ratio) and every evaluation made."""

    index: int
    rho: float
    evaluations: int
    isolated_feasible: list[float] = field(default_factory=list)


def coarse_grid(n_points: int, resolution: float, rho_min: float) -> list[int]:
    """Grid indices of ``n_points`` log-spaced kept ratios in ``[rho_min, 1]`` (distinct)."""
    top = int(round(1.0 / resolution))
    lo = max(1, int(np.floor(rho_min / resolution)))
    pts = np.unique(np.round(np.geomspace(lo, top, n_points)).astype(int))
    return [int(i) for i in pts]


def find_limit(
    feasible: Callable[[int], bool],
    resolution: float,
    coarse_points: int,
    rho_min: float,
) -> LimitSearch:
    """Smallest feasible grid index as described in the module docstring.

    ``feasible(i)`` judges kept ratio ``i * resolution``; it is called at most once per index.
    """
    cache: dict[int, bool] = {}

    def ok(i: int) -> bool:
        if i not in cache:
            cache[i] = bool(feasible(i))
        return cache[i]

    coarse = coarse_grid(coarse_points, resolution, rho_min)
    flags = [ok(i) for i in coarse]
    if not flags[-1]:
        raise ValueError("the unpruned network (rho = 1) is not feasible: check the criterion")
    j = len(coarse) - 1
    while j > 0 and flags[j - 1]:
        j -= 1
    isolated = [coarse[i] * resolution for i in range(max(j - 1, 0)) if flags[i]]
    if j == 0:  # even the smallest scanned ratio is feasible
        return LimitSearch(coarse[0], coarse[0] * resolution, len(cache), isolated)
    lo, hi = coarse[j - 1], coarse[j]  # ok(lo) is False, ok(hi) is True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return LimitSearch(hi, hi * resolution, len(cache), isolated)
