"""Prunable weights and masks: the one place where masks are made and applied.

Conventions: the prunable weights are the ``weight`` tensors of Linear and Conv layers (biases
and BatchNorm are never pruned); ``D`` is their total size; a mask is a bool tensor of the same
shape (True = kept); the kept ratio is ``rho = ||m||_0 / D``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

Masks = dict[str, torch.Tensor]
# A pruning path: path(keep) -> the masks keeping `keep` weights, nested in `keep`; and what
# makes one from the weights and the surviving entries (None: all), e.g. magnitude_path
MaskPath = Callable[[int], Masks]
PathOf = Callable[[dict[str, torch.Tensor], "Masks | None"], MaskPath]


def prunable_names(model: nn.Module) -> list[str]:
    """Parameter names (as in ``named_parameters``) of the prunable weights, in model order."""
    return [
        f"{mod_name}.weight" if mod_name else "weight"
        for mod_name, mod in model.named_modules()
        if isinstance(mod, PRUNABLE_TYPES)
    ]


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    params = dict(model.named_parameters())
    return {name: params[name] for name in prunable_names(model)}


def count_prunable(model: nn.Module) -> int:
    """``D``: the number of prunable weights."""
    return sum(p.numel() for p in prunable_weights(model).values())


def flat_mask(model: nn.Module, masks: Masks) -> torch.Tensor:
    """The masks as one flat bool vector over the prunable weights, in model order."""
    return torch.cat([masks[n].reshape(-1).bool().cpu() for n in prunable_names(model)])


def flat_prunable(model: nn.Module) -> torch.Tensor:
    """All prunable weights as one flat (detached) vector, in model order."""
    return torch.cat([p.detach().reshape(-1) for p in prunable_weights(model).values()])


def keep_largest(values: torch.Tensor, mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The one mask helper: per row of the 2-D ``values``, of the entries ``mask`` keeps, keep the
    ``keep[i]`` largest ``|values|`` (clipped to the row's kept number); the rest are pruned.

    Tie-breaking rule (everywhere in the package): among equal magnitudes the earlier position
    (in row order, i.e. model order for flattened tensors) ranks lower and is pruned first.
    """
    if values.dim() != 2 or values.shape != mask.shape:
        raise ValueError(f"keep_largest needs 2-D values and mask of one shape, got {values.shape}")
    if values.shape[0] == 1:  # one row (global, layer scopes): linear time, the same rule
        return _keep_largest_row(values[0], mask[0], int(torch.as_tensor(keep).reshape(-1)[0]))[
            None
        ]
    mags = torch.where(
        mask, values.detach().abs().double(), torch.full_like(values, math.inf, dtype=torch.float64)
    )
    ranks = _ranks(mags)  # pruned entries (inf) rank last
    kept = mask.sum(1)
    keep = torch.minimum(torch.as_tensor(keep, device=values.device).long().reshape(-1), kept)
    return mask & ~(ranks < (kept - keep)[:, None])


def _ranks(mags: torch.Tensor) -> torch.Tensor:
    """Per row of the 2-D float64 ``mags``, each entry's position in the stable ascending order
    (0 = smallest; among equal values the earlier position first): the package's tie rule."""
    key = _sort_key(mags)
    if key.shape[0] == 1:  # one row sorted as a vector: the radix sort of a stable 1-D sort
        order = torch.argsort(key[0], stable=True)[None]
    else:
        order = torch.argsort(key, dim=1, stable=True)
    ranks = torch.empty_like(order)
    cols = torch.arange(mags.shape[1], device=mags.device).expand_as(order)
    return ranks.scatter_(1, order, cols)


def _sort_key(mags: torch.Tensor) -> torch.Tensor:
    """Integers in the order of the float64 ``mags`` where that order is exact in float32 (the
    magnitudes of float32 weights, with +-inf markers; no NaN): the float32 bit pattern, its
    31 low bits flipped when negative. A stable sort of one such row is a radix sort, 3-4x
    faster than a float64 sort of 24 M entries on a CPU thread; the order, ties included, is the
    float64 one (``-0.0`` taken as ``0.0``, as the float comparison does)."""
    single = mags.float() + 0.0  # -0.0 + 0.0 = 0.0
    if not torch.equal(single.double(), mags):
        return mags  # not float32 values: sorted as they are
    bits = single.view(torch.int32)
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)


def magnitude_ranks(values: torch.Tensor) -> torch.Tensor:
    """Pruning order of the flat ``values`` under :func:`keep_largest`'s rule: rank 0 is pruned
    first. Keeping the ``k`` largest ``|values|`` is ``ranks >= values.numel() - k``, so one sort
    serves every kept count of a global magnitude pruning path (whose masks are nested)."""
    return _ranks(values.detach().reshape(1, -1).abs().double())[0]


def _keep_largest_row(values: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    """:func:`keep_largest` of one row without a sort: every kept entry above the threshold
    magnitude stays, and of those at it, the last ones (the earlier are pruned first)."""
    kept = int(mask.sum())
    keep = max(0, min(keep, kept))
    if keep == kept:
        return mask.clone()
    if keep == 0:
        return torch.zeros_like(mask)
    mags = values.detach().abs().double()
    candidates = mags[mask]
    threshold = torch.kthvalue(candidates, kept - keep).values  # the largest pruned magnitude
    above = mask & (mags > threshold)
    ties = (mask & (mags == threshold)).nonzero().squeeze(1)
    out = above.clone()
    extra = keep - int(above.sum())
    if extra > 0:
        out[ties[len(ties) - extra :]] = True
    return out


def flat_weights(weights: dict[str, torch.Tensor]) -> torch.Tensor:
    """All tensors of ``weights`` as one flat vector, in the dict's order (detached)."""
    return torch.cat([w.detach().reshape(-1) for w in weights.values()])


def split_flat(flat: torch.Tensor, weights: dict[str, torch.Tensor]) -> Masks:
    """``flat`` (model order) cut into tensors shaped like ``weights`` (views of ``flat``)."""
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = flat[start : start + w.numel()].view_as(w)
        start += w.numel()
    return masks


def full_masks(weights: dict[str, torch.Tensor]) -> Masks:
    """Masks keeping every entry of ``weights`` (the dense network)."""
    return {n: torch.ones_like(w, dtype=torch.bool) for n, w in weights.items()}


def global_magnitude_masks(weights: dict[str, torch.Tensor], keep: int) -> Masks:
    """Keep exactly the ``keep`` largest ``|w|`` over all tensors together (model order;
    ties as :func:`keep_largest`)."""
    flat = flat_weights(weights)
    if not 0 <= keep <= flat.numel():
        raise ValueError(f"keep must be in [0, {flat.numel()}], got {keep}")
    full = torch.ones(1, flat.numel(), dtype=torch.bool, device=flat.device)
    return split_flat(keep_largest(flat.view(1, -1), full, torch.tensor([keep]))[0], weights)


def magnitude_path(weights: dict[str, torch.Tensor], mask: Masks | None = None) -> MaskPath:
    """Global magnitude pruning of ``weights`` at any kept count from one sort: ``path(keep)``
    equals :func:`global_magnitude_masks` ``(weights, keep)`` (the masks of a path are nested),
    for a caller that asks for many kept counts of the same weights. ``mask``: only among the
    entries it keeps (``keep`` up to their number; the others always pruned), ties as
    :func:`keep_largest`."""
    flat = flat_weights(weights)
    D = flat.numel()
    if mask is None:
        ranks, kept = magnitude_ranks(flat), D
    else:  # the entries already pruned rank first, below every surviving magnitude
        alive = flat_weights(mask).to(flat.device)
        mags = torch.where(alive, flat.detach().abs().double(), -math.inf)
        ranks, kept = _ranks(mags.view(1, -1))[0], int(alive.sum())

    def path(keep: int) -> Masks:
        if not 0 <= keep <= kept:
            raise ValueError(f"keep must be in [0, {kept}], got {keep}")
        return split_flat(ranks >= D - keep, weights)

    return path


def layer_magnitude_masks(weights: dict[str, torch.Tensor], counts: list[int]) -> Masks:
    """Per tensor, keep its ``counts[l]`` largest ``|w|`` (layer-wise magnitude)."""
    masks = {}
    for (name, w), keep in zip(weights.items(), counts, strict=True):
        full = torch.ones(1, w.numel(), dtype=torch.bool, device=w.device)
        masks[name] = keep_largest(w.reshape(1, -1), full, torch.tensor([int(keep)])).view_as(w)
    return masks


def prune_smallest(values: torch.Tensor, mask: torch.Tensor, count: int) -> torch.Tensor:
    """New mask: ``mask`` minus the ``count`` smallest ``|values|`` among its kept entries."""
    keep = int(mask.sum()) - max(0, int(count))
    flat = keep_largest(values.reshape(1, -1), mask.reshape(1, -1), torch.tensor([keep]))
    return flat.view_as(mask)


def keep_count(rho: float, total: int) -> int:
    """Number of weights kept at kept ratio ``rho`` (rounded to the nearest integer)."""
    return int(round(rho * total))


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Zero the pruned entries of the model's weights in place."""
    params = dict(model.named_parameters())
    for name, m in masks.items():
        params[name].mul_(m.to(params[name].dtype))


@contextmanager
def masked(model: nn.Module, masks: Masks) -> Iterator[nn.Module]:
    """``model`` with ``masks`` applied to its prunable weights inside the block; the weights
    are restored on exit (also after an error)."""
    weights = prunable_weights(model)
    saved = {n: w.detach().clone() for n, w in weights.items()}
    try:
        with torch.no_grad():
            apply_masks(model, masks)
        yield model
    finally:
        with torch.no_grad():
            for n, w in weights.items():
                w.copy_(saved[n])


def kept_ratio(masks: Masks) -> float:
    total = sum(m.numel() for m in masks.values())
    return sum(int(m.sum()) for m in masks.values()) / total


def sorted_magnitudes(w: torch.Tensor) -> torch.Tensor:
    """``|w|`` sorted in decreasing order (float64), the input of :func:`removed_norm`."""
    mags = w.detach().abs().reshape(-1)
    if mags.dtype != torch.float32:
        return torch.sort(mags.double(), descending=True).values
    # non-negative float32 sort as their bit patterns: a radix sort, twice as fast, same values
    bits = torch.sort(mags.view(torch.int32), stable=True).values
    return bits.view(torch.float32).double().flip(0)


def removed_sq_tail(sorted_mags: torch.Tensor) -> torch.Tensor:
    """``tail[k] = sum_{i >= k} w_(i)^2`` for ``k = 0..D``: the squared removed norm when the
    ``k`` largest magnitudes stay (``sorted_mags`` from :func:`sorted_magnitudes`). On the
    CPU, numpy sums backwards in place (the same sums, one buffer instead of five: D is up to
    ~1e8)."""
    if sorted_mags.device.type != "cpu":
        tail = torch.cumsum(sorted_mags.flip(0) ** 2, 0).flip(0)
        return torch.cat([tail, tail.new_zeros(1)])
    out = sorted_mags.new_zeros(sorted_mags.numel() + 1)
    squares = out.numpy()[:-1]
    np.square(sorted_mags.detach().numpy(), out=squares)
    np.cumsum(squares[::-1], out=squares[::-1])
    return out


def removed_norm(sorted_mags: torch.Tensor, keep: torch.Tensor | int) -> torch.Tensor:
    """``R = ||w* - w_rho||_2``: l2 norm of the removed weights when the ``keep`` largest stay.

    ``sorted_mags`` from :func:`sorted_magnitudes`; ``keep`` may be a tensor of counts.
    """
    return removed_sq_tail(sorted_mags)[torch.as_tensor(keep, dtype=torch.long)].sqrt()
