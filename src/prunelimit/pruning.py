"""Prunable weights and masks: the one place where masks are made and applied.

Conventions: the prunable weights are the ``weight`` tensors of Linear and Conv layers (biases
and BatchNorm are never pruned); ``D`` is their total size; a mask is a bool tensor of the same
shape (True = kept); the kept ratio is ``rho = ||m||_0 / D``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

PRUNABLE_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

Masks = dict[str, torch.Tensor]


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


def flat_prunable(model: nn.Module) -> torch.Tensor:
    """All prunable weights as one flat (detached) vector, in model order."""
    return torch.cat([p.detach().reshape(-1) for p in prunable_weights(model).values()])


def global_magnitude_masks(weights: dict[str, torch.Tensor], keep: int) -> Masks:
    """Keep exactly the ``keep`` largest ``|w|`` over all tensors together (ties at the
    threshold are broken by ``torch.topk``, not by position)."""
    flat = torch.cat([w.detach().abs().reshape(-1) for w in weights.values()])
    total = flat.numel()
    if not 0 <= keep <= total:
        raise ValueError(f"keep must be in [0, {total}], got {keep}")
    kept = torch.zeros(total, dtype=torch.bool, device=flat.device)
    if keep > 0:
        kept[torch.topk(flat, keep, sorted=False).indices] = True
    masks, start = {}, 0
    for name, w in weights.items():
        masks[name] = kept[start : start + w.numel()].view_as(w)
        start += w.numel()
    return masks


def prune_smallest(values: torch.Tensor, mask: torch.Tensor, count: int) -> torch.Tensor:
    """New mask: ``mask`` minus the ``count`` smallest ``|values|`` among its kept entries."""
    kept = mask.reshape(-1).nonzero().squeeze(1)
    count = max(0, min(int(count), kept.numel()))
    new = mask.clone().reshape(-1)
    if count:
        mags = values.detach().abs().reshape(-1)[kept]
        drop = kept[torch.topk(mags, count, largest=False, sorted=False).indices]
        new[drop] = False
    return new.view_as(mask)


def prune_smallest_rows(
    values: torch.Tensor, mask: torch.Tensor, counts: torch.Tensor
) -> torch.Tensor:
    """Row-wise :func:`prune_smallest`: drop ``counts[i]`` smallest kept
    ``|values|`` of row ``i`` (counts clipped to the row's kept number). Ties by position."""
    mags = torch.where(
        mask, values.detach().abs().double(), torch.full_like(values, math.inf, dtype=torch.float64)
    )
    order = torch.argsort(mags, dim=1, stable=True)
    ranks = torch.empty_like(order)
    cols = torch.arange(values.shape[1], device=values.device).expand_as(order)
    ranks.scatter_(1, order, cols)
    counts = torch.minimum(counts.to(values.device).long(), mask.sum(1))
    return mask & ~(ranks < counts[:, None])


def keep_count(rho: float, total: int) -> int:
    """Number of weights kept at kept ratio ``rho`` (rounded to the nearest integer)."""
    return int(round(rho * total))


@torch.no_grad()
def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Zero the pruned entries of the model's weights in place."""
    params = dict(model.named_parameters())
    for name, m in masks.items():
        params[name].mul_(m.to(params[name].dtype))


def kept_ratio(masks: Masks) -> float:
    total = sum(m.numel() for m in masks.values())
    return sum(int(m.sum()) for m in masks.values()) / total


def sorted_magnitudes(w: torch.Tensor) -> torch.Tensor:
    """``|w|`` sorted in decreasing order (float64), the input of :func:`removed_norm`."""
    return torch.sort(w.detach().abs().reshape(-1).double(), descending=True).values


def removed_sq_tail(sorted_mags: torch.Tensor) -> torch.Tensor:
    """``tail[k] = sum_{i >= k} w_(i)^2`` for ``k = 0..D``: the squared removed norm when the
    ``k`` largest magnitudes stay (``sorted_mags`` from :func:`sorted_magnitudes`)."""
    tail = torch.cumsum(sorted_mags.flip(0) ** 2, 0).flip(0)
    return torch.cat([tail, tail.new_zeros(1)])


def removed_norm(sorted_mags: torch.Tensor, keep: torch.Tensor | int) -> torch.Tensor:
    """``R = ||w* - w_rho||_2``: l2 norm of the removed weights when the ``keep`` largest stay.

    ``sorted_mags`` from :func:`sorted_magnitudes`; ``keep`` may be a tensor of counts.
    """
    return removed_sq_tail(sorted_mags)[torch.as_tensor(keep, dtype=torch.long)].sqrt()
