"""The trained weights' magnitude distribution, across seeds and kinds of training (Zhang et
al.: the distribution of the trained weights, and the total-variation distance between the
distributions of independent runs). No torch: the figure jobs' environment lacks it.

Convention: the distribution of ``|w|`` over the ``D`` prunable weights as fractions of ``D``
in fixed bins of ``log10 |w|`` (:data:`LOG10_EDGES`: 0.05 decades from 1e-12 to 1e2; smaller
nonzero magnitudes fall in the first bin, larger ones in the last) plus one count of exact
zeros. Fixed bins make every run's histogram comparable with every other's, and the
total-variation distance ``TV(p, q) = sum |p_i - q_i| / 2`` (zeros included as a bin) lies in
``[0, 1]``: 0 for equal distributions, 1 for disjoint ones. It depends on the bins. Its scale
under sampling alone (``tv_sampling``): two samples of ``D`` independent draws each from one
distribution with bin probabilities ``p_i`` differ by ``sum_i sqrt(p_i / (pi D))`` in
expectation (normal approximation; ``p`` the pair's pooled fractions), a reference for how far
apart two seeds' weights are beyond the sampling noise of a finite ``D``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

LOG10_EDGES = np.round(np.arange(-12.0, 2.0 + 1e-9, 0.05), 2)


def magnitude_histogram(magnitudes: np.ndarray) -> dict:
    """The histogram of ``magnitudes`` (``|w|``, any order): ``zeros`` (exact zeros) and
    ``counts`` per bin of :data:`LOG10_EDGES` (``log10_edges``), as integers, with ``D``. The
    bins are those of ``numpy.histogram``: half-open but the last, which holds its upper edge.
    Sorted non-negative magnitudes (as the theory holds them, either order) are binned where
    they lie, by a bisection per edge: no copy of ``D`` values (unsorted input is sorted)."""
    m = np.asarray(magnitudes).ravel()
    ascending = m[::-1] if m.size > 1 and m[0] > m[-1] else m
    if not (m.size == 0 or ascending[0] >= 0) or not _ascending(ascending):
        ascending = np.sort(np.abs(m))
    zeros = int(np.searchsorted(ascending, 0.0, side="right"))
    first = _first_at_or_above(ascending, zeros, LOG10_EDGES[:-1]) - zeros
    first[0] = 0  # below the first edge: clipped into the first bin
    counts = np.diff(np.r_[first, m.size - zeros])
    return {
        "D": int(m.size),
        "zeros": zeros,
        "log10_edges": LOG10_EDGES.tolist(),
        "counts": counts.astype(int).tolist(),
    }


def _ascending(a: np.ndarray, block: int = 1 << 22) -> bool:
    """Whether ``a`` is non-decreasing (checked in blocks: no copy of ``a`` at once)."""
    pairs = a.size - 1
    return all(
        bool((a[i + 1 : min(i + block, pairs) + 1] >= a[i : min(i + block, pairs)]).all())
        for i in range(0, max(pairs, 0), block)
    )


def _first_at_or_above(ascending: np.ndarray, lo: int, log10_edges: np.ndarray) -> np.ndarray:
    """Per edge ``e``, the first index ``i >= lo`` of the non-decreasing positive
    ``ascending[lo:]`` where ``log10(ascending[i]) >= e`` (its size if none): the same
    comparison as ``numpy.log10`` of every value, made at ~log2(D) values per edge."""
    lo = np.full(log10_edges.shape, lo, dtype=np.int64)
    hi = np.full(log10_edges.shape, ascending.size, dtype=np.int64)
    while (open_ := lo < hi).any():
        mid = (lo + hi) // 2
        above = np.log10(ascending[np.minimum(mid, ascending.size - 1)]) >= log10_edges
        hi = np.where(open_ & above, mid, hi)
        lo = np.where(open_ & ~above, mid + 1, lo)
    return lo


def fractions(hist: dict) -> np.ndarray:
    """``[zeros, counts...]`` of a :func:`magnitude_histogram` as fractions of its ``D``."""
    return np.asarray([hist["zeros"], *hist["counts"]], dtype=float) / hist["D"]


def tv_distance(a: dict, b: dict) -> float:
    """Total-variation distance between two :func:`magnitude_histogram` records (same bins)."""
    if a["log10_edges"] != b["log10_edges"]:
        raise ValueError("the histograms have different bins")
    return 0.5 * float(np.abs(fractions(a) - fractions(b)).sum())


def magnitude_at(hist: dict, rho: float) -> float:
    """The magnitude below which one-shot magnitude pruning to kept ratio ``rho`` removes
    weights, to the bin: the lower edge of the bin where the fraction counted from the largest
    magnitudes down reaches ``rho`` (0 when the zeros are reached)."""
    from_top = np.cumsum(np.asarray(hist["counts"], dtype=float)[::-1]) / hist["D"]
    i = int(np.searchsorted(from_top, rho - 1e-12))
    if i >= len(from_top):
        return 0.0
    return float(10 ** np.asarray(hist["log10_edges"])[::-1][i + 1])


def seed_distances(theories: Sequence[dict]) -> pd.DataFrame:
    """TV distance between the weight distributions of every pair of seeds of one network
    (experiment, kind), from the ``weight_histogram`` of their ``theory.json`` records: one
    row per pair (``experiment``, ``kind``, ``seed_a``, ``seed_b``, ``D``, ``tv``), with the
    sampling scale ``tv_sampling`` (module docstring) beside it."""
    groups: dict[tuple, list[dict]] = {}
    for th in theories:
        if th.get("weight_histogram"):
            groups.setdefault((th["experiment"], th.get("kind", "l1")), []).append(th)
    rows = []
    for (experiment, kind), runs in groups.items():
        runs = sorted(runs, key=lambda th: th["seed"])
        for a, b in combinations(runs, 2):
            ha, hb = a["weight_histogram"], b["weight_histogram"]
            pooled = (fractions(ha) + fractions(hb)) / 2
            rows.append(
                {
                    "experiment": experiment,
                    "kind": kind,
                    "seed_a": a["seed"],
                    "seed_b": b["seed"],
                    "D": ha["D"],
                    "tv": tv_distance(ha, hb),
                    "tv_sampling": float(np.sqrt(pooled / (np.pi * ha["D"])).sum()),
                }
            )
    columns = ["experiment", "kind", "seed_a", "seed_b", "D", "tv", "tv_sampling"]
    return pd.DataFrame(rows, columns=columns)
