"""Smart-Ratio (Su et al., NeurIPS 2020, "Sanity-checking pruning methods: random tickets can win
the jackpot") and random pruning with equal layer ratios: data-free kept counts per layer, and
random masks within each layer.

Conventions (as :mod:`prunelimit.pruning`): layers are the prunable weights in model order, the
last one the final linear layer; ``keep`` is the kept count, ``rho = keep / D`` the kept ratio;
masks are bool, True = kept. Counts are integers that sum exactly to ``keep``; each layer's
count is within one weight of its real-valued share (``floor <= count <= ceil``) and
non-decreasing in ``keep``, so the masks of one path are nested.

Why not largest remainders: that rounding is not monotone in ``keep`` (the Alabama paradox:
sizes 6, 6, 2 keep 4, 4, 2 of 10 but 5, 5, 1 of 11), so nested masks could not follow it. The
counts here fill the budget one weight at a time, each weight of a layer released when the
layer's share exceeds its index and due when the share reaches it, the earliest due first
(EDF scheduling of unit jobs; Hall's condition holds, so every weight meets its window).
Time ``O(keep log L)``: a path computes the order once and extends it on demand.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Sequence
from fractions import Fraction
from itertools import accumulate

import numpy as np
import torch

from prunelimit.pruning import MaskPath, Masks, PathOf, keep_count


class _Apportionment:
    """Integer counts per layer for every budget ``b`` in ``[0, sum(sizes)]`` from positive
    integer ``scores``: the real-valued share of layer ``l`` is
    ``x_l(b) = min(n_l, max(a_l b, g_l b - h_l))`` with ``a_l = r_l n_l / W`` (the scaled
    score, ``W = sum r n``), ``g_l = a_1 + .. + a_l``, ``h_l = n_1 + .. + n_{l-1}``: the
    score share, or what is left when every earlier layer is full (the surplus of the layers
    whose share exceeds their size passes on to the next layers, in order). With decreasing
    ratios ``r_l`` (Smart-Ratio) or equal ones (``x_l = b n_l / D``, random pruning).
    ``counts(b)`` are the first ``b`` steps of one EDF order: see the module docstring."""

    def __init__(self, sizes: Sequence[int], scores: Sequence[int]):
        self.sizes = list(sizes)
        self._rn = [r * n for r, n in zip(scores, self.sizes, strict=True)]
        self._w = sum(self._rn)
        self._g = list(accumulate(self._rn))
        self._h = [0, *accumulate(self.sizes)][:-1]
        self._picks = array("H" if len(self.sizes) < 2**16 else "I")
        self._next = [0] * len(self.sizes)  # units taken per layer
        self._ready: list[tuple[int, int]] = []  # (due step, layer) of released units
        self._waiting = [(self._release(l, 0), l) for l, n in enumerate(self.sizes) if n > 0]
        heapq.heapify(self._waiting)

    def _first(self, l: int, v: int, up: bool) -> int:
        """``ceil`` (``up``) or ``floor`` of the first budget at which ``x_l`` reaches ``v``:
        ``min(v / a_l, (v + h_l) / g_l)``, in exact integer arithmetic."""
        a, b = v * self._w, (v + self._h[l]) * self._w
        if up:
            return min(-(-a // self._rn[l]), -(-b // self._g[l]))
        return min(a // self._rn[l], b // self._g[l])

    def _release(self, l: int, j: int) -> int:
        """The first step (budget) at which ``x_l > j``: unit ``j`` (0-based) may be taken."""
        return self._first(l, j, up=False) + 1

    def counts(self, budget: int) -> list[int]:
        """Kept count per layer at ``budget`` (``0 <= budget <= sum(sizes)``)."""
        picks, nxt, ready, waiting = self._picks, self._next, self._ready, self._waiting
        for step in range(len(picks) + 1, budget + 1):
            while waiting and waiting[0][0] <= step:
                l = heapq.heappop(waiting)[1]
                heapq.heappush(ready, (self._first(l, nxt[l] + 1, up=True), l))
            l = heapq.heappop(ready)[1]
            picks.append(l)
            nxt[l] += 1
            if nxt[l] < self.sizes[l]:
                heapq.heappush(waiting, (self._release(l, nxt[l]), l))
        taken = np.frombuffer(picks, dtype=np.dtype(picks.typecode), count=budget)
        return np.bincount(taken, minlength=len(self.sizes)).tolist()


def _check_sizes(sizes: Sequence[int]) -> list[int]:
    sizes = [int(n) for n in sizes]
    if not sizes or min(sizes) < 0:
        raise ValueError(f"sizes must be a non-empty list of counts >= 0, got {sizes}")
    return sizes


def _check_keep(keep: int, total: int) -> None:
    if not 0 <= keep <= total:
        raise ValueError(f"keep must be in [0, {total}] (the layers' total size), got {keep}")


def _smart_scores(count: int, vgg: bool) -> list[int]:
    """Integer keep scores of layers ``l = 1..count`` of ``L = count + 1`` layers (the last is
    fixed): ``(L-l+1)^2 + (L-l+1)``, for VGG divided by ``l^2`` (scaled to integers, exact)."""
    L = count + 1
    scores = [Fraction((L - l + 1) ** 2 + (L - l + 1), l * l if vgg else 1) for l in range(1, L)]
    den = math.lcm(1, *(s.denominator for s in scores))
    return [int(s * den) for s in scores]


def _last_fixed(sizes: list[int], keep: int, last_keep: float) -> int:
    """The final layer's fixed count ``keep_count(last_keep, n_L)``; errors name the fix."""
    if not 0.0 <= last_keep <= 1.0:
        raise ValueError(f"last_keep must be a kept ratio in [0, 1], got {last_keep}")
    fixed, rest = keep_count(last_keep, sizes[-1]), sum(sizes[:-1])
    if keep < fixed:
        raise ValueError(
            f"keep={keep} is below the final layer's fixed share round({last_keep} * "
            f"{sizes[-1]}) = {fixed}: raise keep or lower last_keep"
        )
    if keep - fixed > rest:
        raise ValueError(
            f"keep={keep} leaves {keep - fixed} weights to the other layers, which hold only "
            f"{rest} (the final layer keeps a fixed {fixed}): raise last_keep or lower keep"
        )
    return fixed


def smart_ratio_counts(
    sizes: Sequence[int], keep: int, last_keep: float = 0.3, vgg: bool = False
) -> list[int]:
    """Smart-Ratio kept count per layer (``sizes`` in model order, the last the final linear
    layer); the counts sum exactly to ``keep``.

    As the public code (JingtongSu/sanity-checking-pruning, ``pruner/SmartRatio.py``): with
    layers ``l = 1..L`` from the input, layer ``l < L`` keeps a ratio proportional to
    ``(L-l+1)^2 + (L-l+1)`` (``vgg``: also divided by ``l^2``; the public code does this for
    every ``arch != 'resnet'``), one factor scaling them so the total is ``keep``; the final
    layer keeps a fixed ``last_keep``; a ratio above 1 is clipped to 1 and its surplus passed on
    to the following layers in order, each filled up to 1 before the next gets any (so no ratio
    exceeds 1). Differences: the public code fixes every ``nn.Linear`` at ``last_keep`` and
    scales only the convolutions (the same for VGG and ResNet, whose only Linear is the last;
    here an MLP works too); it truncates with ``int()`` (final layer ``floor(0.3 n)``, here
    :func:`~prunelimit.pruning.keep_count`; totals off by up to ``L``, here exact); surplus
    that reaches the Linear layer is lost there, here it is an error. Rounding: see the
    module docstring (within one weight of the real-valued share, monotone in ``keep``).

    Raises ValueError for ``keep`` outside ``[0, sum(sizes)]``, below the final layer's fixed
    share, or above what the other layers can hold with it.
    """
    sizes = _check_sizes(sizes)
    _check_keep(keep, sum(sizes))
    fixed = _last_fixed(sizes, keep, last_keep)
    scores = _smart_scores(len(sizes) - 1, vgg)
    return [*_Apportionment(sizes[:-1], scores).counts(keep - fixed), fixed]


def random_counts(sizes: Sequence[int], keep: int) -> list[int]:
    """Random pruning's kept count per layer: every layer keeps the ratio ``rho = keep / D``,
    each count within one weight of ``rho * n_l``, the counts summing exactly to ``keep`` and
    non-decreasing in ``keep`` (the module docstring's rounding)."""
    sizes = _check_sizes(sizes)
    _check_keep(keep, sum(sizes))
    return _Apportionment(sizes, [1] * len(sizes)).counts(keep)


def _layer_ranks(
    weights: dict[str, torch.Tensor], mask: Masks | None, seed: int
) -> tuple[dict[str, torch.Tensor], list[int]]:
    """Per layer, each surviving entry's position in one random order of the layer (drawn from
    ``torch.Generator().manual_seed(seed)`` on the CPU, layer after layer in model order);
    pruned entries get the layer's size (never kept). Also the surviving counts."""
    g = torch.Generator().manual_seed(seed)
    ranks, sizes = {}, []
    for name, w in weights.items():
        n = w.numel()
        order = torch.randperm(n, generator=g)
        if mask is not None:
            order = order[mask[name].reshape(-1).bool().cpu()[order]]
        rank = torch.full((n,), n, dtype=torch.int32)
        rank[order] = torch.arange(len(order), dtype=torch.int32)
        ranks[name] = rank.view(w.shape).to(w.device)
        sizes.append(len(order))
    return ranks, sizes


def _ranked_path(ranks: dict[str, torch.Tensor], counts_of: Callable[[int], list[int]]) -> MaskPath:
    """``path(keep)``: in each layer, the first ``counts_of(keep)[l]`` entries of its order."""

    def path(keep: int) -> Masks:
        counts = counts_of(keep)
        return {name: rank < c for (name, rank), c in zip(ranks.items(), counts, strict=True)}

    return path


def smart_ratio_path(seed: int, last_keep: float = 0.3, vgg: bool = False) -> PathOf:
    """Smart-Ratio masks: ``of(weights, mask)(keep)`` keeps :func:`smart_ratio_counts` of the
    surviving counts (``mask`` None: every entry survives) in each layer, at random within the
    layer (one order per layer drawn once from ``seed``: masks nested in ``keep``, the same
    seed gives the same masks). Masks are bool, on the weights' device."""

    def of(weights: dict[str, torch.Tensor], mask: Masks | None = None) -> MaskPath:
        ranks, sizes = _layer_ranks(weights, mask, seed)
        shares = _Apportionment(sizes[:-1], _smart_scores(len(sizes) - 1, vgg))

        def counts(keep: int) -> list[int]:
            _check_keep(keep, sum(sizes))
            fixed = _last_fixed(sizes, keep, last_keep)
            return [*shares.counts(keep - fixed), fixed]

        return _ranked_path(ranks, counts)

    return of


def random_path(seed: int) -> PathOf:
    """Random pruning: ``of(weights, mask)(keep)`` keeps :func:`random_counts` of the surviving
    counts in each layer (the same ratio everywhere), at random within the layer as
    :func:`smart_ratio_path` (nested in ``keep``, reproducible by ``seed``)."""

    def of(weights: dict[str, torch.Tensor], mask: Masks | None = None) -> MaskPath:
        ranks, sizes = _layer_ranks(weights, mask, seed)
        shares = _Apportionment(sizes, [1] * len(sizes))

        def counts(keep: int) -> list[int]:
            _check_keep(keep, sum(sizes))
            return shares.counts(keep)

        return _ranked_path(ranks, counts)

    return of
