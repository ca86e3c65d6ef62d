"""Spline pruning (You et al., TMLR 2022) and the node-pruning baselines: which nodes to keep.

The paper prunes "isolated groups of nodes that have a redundant contribution in the forming of
the spline partition" (its abstract). A ReLU node of a node layer
(:mod:`prunelimit.spline.nodes`) adds one boundary to the partition of its layer's input: the
hyperplane ``w . x + b = 0`` of its pre-activation (BatchNorm folded in,
:func:`~prunelimit.spline.nodes.hyperplanes`). Two nodes whose hyperplanes (nearly) coincide
draw (nearly) the same boundary, and one of them is redundant.

**Criterion** (what is implemented; the paper's full text was not at hand, so the distance and
its normalisation are this package's reading): each node's ``[w | b]`` is scaled to unit
length (the hyperplane without its arbitrary scale; an all-zero node, which draws no boundary,
is pruned first); the distance of two nodes is
``min(||u_i - u_j||, ||u_i + u_j||) = sqrt(2 - 2 |u_i . u_j|)`` (a hyperplane and its negation
are the same boundary). **Greedy redundancy order**: repeatedly prune the node nearest to
another still-kept node of its layer (ties: the earlier node first) and update the nearest
distances; of two identical nodes one goes first, and the other is then as far from the rest
as its own boundary is. The last node of a layer goes after every node that has a neighbour.
**Layer-wise**: the order within each layer; every layer keeps ``round(f n_l)`` nodes (at least
one). **Global**: each layer's nodes go in its layer-wise order, and the layers' orders are
merged by how redundant the steps are **for their layer**: each step's distance divided by the
same step's distance in the greedy order of as many random hyperplanes in the layer's dimension
(isotropic Gaussian ``[w | b]``, a fixed seed; :func:`chance_steps`). A layer loses as many nodes
as it has steps below the global threshold on that ratio (its ratios sorted, merged with the
others'), the nodes in its own order. Raw distances are not comparable across layers: ``n``
random hyperplanes lie closer together in a narrow input than in a wide one (64 of them: a
median 0.40 apart in 5 dimensions, 1.17 in 65), so one raw order empties the narrow layers
first. The network keeps ``round(f N)`` nodes, at least one per layer. The masks of one network
are nested in ``f``.

**Baselines** (the same selection): ``magnitude`` keeps the nodes with the largest l2 norm of
their incoming weight row (the public FCNet code's row norms; bias and BatchNorm not included),
``random`` uniform scores drawn from ``seed``, ``slimming`` (network slimming, Liu et al. 2017)
the largest ``|gamma|`` of the node's BatchNorm (models with BatchNorm only). Selection from
scores goes through the package's one mask helper, :func:`prunelimit.pruning.keep_largest`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from prunelimit.pruning import keep_count, keep_largest
from prunelimit.spline.nodes import NodeLayer, hyperplanes

SCOPES = ("layer", "global")
LONE = 10.0  # the distance of a layer's last node (above every real distance, sqrt(2))


def plane_distances(planes: torch.Tensor) -> np.ndarray:
    """``(n, n)`` sign-invariant distances of the unit-scaled rows of ``planes`` (module
    docstring); an all-zero row is at distance 0 from every row and no row's neighbour
    (infinite in its column); the diagonal is infinite."""
    planes = planes.detach().double().cpu()
    norms = planes.norm(dim=1)
    zero = norms == 0
    units = planes / torch.where(zero, torch.ones_like(norms), norms)[:, None]
    cos = (units @ units.T).abs().clamp(max=1.0)
    dist = (2.0 - 2.0 * cos).clamp(min=0.0).sqrt()
    dist[:, zero] = math.inf  # a boundary is never the duplicate of no boundary
    dist[zero, :] = 0.0  # no boundary: redundant next to any node
    dist.fill_diagonal_(math.inf)
    return dist.numpy()


def _nearest(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the smallest distance (``LONE`` when no other node is left) and its column."""
    idx = dist.argmin(1) if dist.shape[1] else np.zeros(len(dist), dtype=np.int64)
    near = dist[np.arange(len(dist)), idx] if dist.shape[1] else np.full(len(dist), np.inf)
    return np.where(np.isfinite(near), near, LONE), idx


def redundancy_order(dists: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The greedy redundancy order (module docstring) over the layers of ``dists`` together
    (one layer: layer-wise). Returns per layer ``(rank, distance)``: the step at which each node
    is pruned (0 first; the order over all given layers) and its nearest distance then."""
    dists = [d.copy() for d in dists]
    sizes = [len(d) for d in dists]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    near, idx = zip(*(_nearest(d) for d in dists), strict=True) if dists else ((), ())
    near, idx = [n.copy() for n in near], [i.copy() for i in idx]
    flat = np.concatenate(near) if dists else np.zeros(0)
    ranks = [np.full(n, -1, dtype=np.int64) for n in sizes]
    at = [np.zeros(n) for n in sizes]
    alive = [np.ones(n, dtype=bool) for n in sizes]
    for step in range(int(starts[-1])):
        k = int(np.argmin(flat))  # ties: the earlier node (model order) first
        layer = int(np.searchsorted(starts, k, side="right") - 1)
        i = k - starts[layer]
        ranks[layer][i], at[layer][i] = step, flat[k]
        flat[k] = np.inf
        alive[layer][i] = False
        d = dists[layer]
        d[:, i] = np.inf
        stale = np.nonzero(alive[layer] & (idx[layer] == i))[0]
        if len(stale):
            new_near, new_idx = _nearest(d[stale])
            idx[layer][stale] = new_idx
            flat[starts[layer] + stale] = new_near
    return list(zip(ranks, at, strict=True))


def chance_steps(nodes: int, dim: int, seed: int = 0) -> np.ndarray:
    """The distances of the greedy order's steps (:func:`redundancy_order`, in pruning order) for
    ``nodes`` random hyperplanes ``[w | b]`` of ``dim`` entries (isotropic Gaussian, generator
    seeded ``seed``): what each step of a layer's order would be by chance."""
    gen = torch.Generator().manual_seed(int(seed))
    planes = torch.randn(nodes, dim, generator=gen, dtype=torch.float64)
    rank, dist = redundancy_order([plane_distances(planes)])[0]
    return dist[np.argsort(rank)]


def _global_ranks(orders: list[tuple[np.ndarray, np.ndarray]], chance: list[np.ndarray]):
    """Merge per-layer greedy orders (``(rank, distance)``) into one (module docstring): a
    layer's ``t``-th node in its order is keyed by the ``t``-th smallest of its steps' distance
    over the chance step's; ties: the earlier layer. Returns the global rank per layer."""
    keys, owners = [], []
    for (rank, dist), null in zip(orders, chance, strict=True):
        order = np.argsort(rank)  # the layer's nodes in its pruning order
        keys.append(np.sort(dist[order] / np.maximum(null, np.finfo(float).tiny)))
        owners.append(order)
    merged = np.argsort(np.concatenate(keys), kind="stable")
    layer_at = np.repeat(np.arange(len(keys)), [len(k) for k in keys])[merged]
    out = []
    for layer, order in enumerate(owners):  # the layer's steps come in its own order
        ranks = np.empty(len(order), dtype=np.int64)
        ranks[order] = np.nonzero(layer_at == layer)[0]
        out.append(ranks)
    return out


def spline_scores(model: nn.Module, layers: list[NodeLayer], scope: str) -> dict[str, torch.Tensor]:
    """Keep priority per node (the greedy rank: higher is kept longer), layer-wise or global
    (the layers' orders merged in units of :func:`chance_steps`)."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    planes = [hyperplanes(model, layer) for layer in layers]
    orders = [redundancy_order([plane_distances(p)])[0] for p in planes]
    if scope == "global":
        ranks = _global_ranks(orders, [chance_steps(*p.shape) for p in planes])
    else:
        ranks = [rank for rank, _ in orders]
    return {
        layer.name: torch.from_numpy(rank).double()
        for layer, rank in zip(layers, ranks, strict=True)
    }


def magnitude_scores(model: nn.Module, layers: list[NodeLayer]) -> dict[str, torch.Tensor]:
    """The l2 norm of each node's incoming weight row."""
    mods = dict(model.named_modules())
    return {
        layer.name: mods[layer.name].weight.detach().double().reshape(layer.size, -1).norm(dim=1)
        for layer in layers
    }


def random_scores(layers: list[NodeLayer], seed: int) -> dict[str, torch.Tensor]:
    """Uniform scores in [0, 1), drawn layer after layer from a generator seeded ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    return {
        layer.name: torch.rand(layer.size, generator=gen, dtype=torch.float64) for layer in layers
    }


def slimming_scores(model: nn.Module, layers: list[NodeLayer]) -> dict[str, torch.Tensor]:
    """``|gamma|`` of each node's BatchNorm (network slimming)."""
    mods = dict(model.named_modules())
    missing = [layer.name for layer in layers if layer.bn is None]
    if missing:
        raise ValueError(f"network slimming needs BatchNorm after every node layer: {missing}")
    return {layer.name: mods[layer.bn].weight.detach().double().abs() for layer in layers}


def select_nodes(
    scores: dict[str, torch.Tensor], fraction: float, scope: str
) -> dict[str, torch.Tensor]:
    """Kept node masks (layer -> bool per node) at kept node fraction ``fraction`` from keep
    priorities ``scores`` (non-negative; the largest kept, ties as
    :func:`~prunelimit.pruning.keep_largest`): layer-wise ``round(f n_l)`` per layer, global
    ``round(f N)`` over all; at least one node per layer either way."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the kept node fraction must be in (0, 1], got {fraction}")
    scores = {name: s.detach().double().cpu() for name, s in scores.items()}  # any device
    if scope == "layer":
        out = {}
        for name, s in scores.items():
            keep = min(len(s), max(1, keep_count(fraction, len(s))))
            full = torch.ones(1, len(s), dtype=torch.bool)
            out[name] = keep_largest(s.view(1, -1), full, torch.tensor([keep]))[0]
        return out
    if scope != "global":
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    flat = torch.cat(list(scores.values()))
    sizes = [len(s) for s in scores.values()]
    starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
    for start, s in zip(starts, scores.values(), strict=True):
        flat[int(start) + int(torch.argmax(s))] = math.inf  # each layer keeps its best node
    total = len(flat)
    keep = min(total, max(len(sizes), keep_count(fraction, total)))
    full = torch.ones(1, total, dtype=torch.bool)
    kept = keep_largest(flat.view(1, -1), full, torch.tensor([keep]))[0]
    return dict(zip(scores, torch.split(kept, sizes), strict=True))
