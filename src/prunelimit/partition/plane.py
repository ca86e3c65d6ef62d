"""The partition of a network on a 2-D plane of its input space, sampled on a grid.

- **Input grid** (our construction of the spline paper's "grid of combinations of test
  images"): three inputs ``x0, x1, x2`` span a plane; the grid is
  ``x(a, b) = x0 + a (x1 - x0) + b (x2 - x0)`` for ``a, b`` on ``grid`` equally spaced values
  in ``[-margin, 1 + margin]``. With ``margin = 0`` it is the parallelogram whose lower triangle
  holds the convex combinations of the three; the default margin 0.25 puts all three samples
  inside the grid.
- **Partition on the grid**: a grid point lies on a boundary of the partition when its code
  (:mod:`prunelimit.partition.codes`) differs from that of its neighbour at the next ``a`` or
  the next ``b`` (so a flagged point is within one grid step of the boundary it marks); per
  layer, the same with that layer's bits only. The **decision boundary** is the same rule
  applied to the argmax class. A region is a distinct code on the grid: the region of one code
  is convex (the network is affine on it), so its slice by the plane is one connected piece;
  the grid meets only the regions wider than its step (:mod:`.exact` enumerates them all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from prunelimit.partition.affine import NotAnMLP, mlp_leaves
from prunelimit.partition.codes import bits_and_classes, distinct_codes, predicted_classes

if TYPE_CHECKING:
    from prunelimit.data import DatasetSplits


def grid_inputs(
    anchors: torch.Tensor, grid: int = 100, margin: float = 0.25
) -> tuple[torch.Tensor, np.ndarray]:
    """``grid * grid`` inputs on the plane through the three ``anchors`` (3, *input_shape).

    Returns the inputs (grid*grid, *input_shape), row-major in (a, b) (``a`` the slow index),
    and the coefficient values (grid,) used for both ``a`` and ``b``.
    """
    if anchors.shape[0] != 3:
        raise ValueError(f"need 3 anchor inputs, got {anchors.shape[0]}")
    if grid < 2:
        raise ValueError(f"grid must be at least 2, got {grid}")
    coef = torch.linspace(-margin, 1 + margin, grid, dtype=anchors.dtype, device=anchors.device)
    a, b = torch.meshgrid(coef, coef, indexing="ij")
    x0, d1, d2 = anchors[0], anchors[1] - anchors[0], anchors[2] - anchors[0]
    shape = (-1,) + (1,) * x0.dim()
    x = x0 + a.reshape(shape) * d1 + b.reshape(shape) * d2
    return x, coef.cpu().numpy()


@torch.no_grad()
def plane_classes(
    model: nn.Module, anchors: torch.Tensor, grid: int, margin: float, batch_size: int = 2500
) -> np.ndarray:
    """The argmax class (grid, grid) of ``model`` (eval mode) on :func:`grid_inputs`.

    For a ReLU MLP (:func:`prunelimit.partition.affine.mlp_leaves`) the first ``Linear`` is
    affine on the plane, ``W x(a, b) + c = (W x0 + c) + a W (x1 - x0) + b W (x2 - x0)``, so its
    outputs are combined from three products instead of computed on ``grid**2`` inputs of the
    input's width (FC5 on CIFAR at 300 x 300: 90,000 inputs of 3,072 floats and 0.55 TFLOP).
    Equal to the classes of the inputs up to float32 rounding (a point on a decision boundary
    may take the neighbouring class); checked against the model's forward at the anchors.
    Other networks, and a chain that fails the check, take the inputs."""
    parts = _first_layer_on_plane(model, anchors)
    if parts is None:
        x = grid_inputs(anchors, grid, margin)[0]
        return predicted_classes(model, x, batch_size).reshape(grid, grid)
    rest, u0, u1, u2 = parts
    coef = torch.linspace(-margin, 1 + margin, grid, dtype=u0.dtype, device=u0.device)
    a, b = (t.reshape(-1, 1) for t in torch.meshgrid(coef, coef, indexing="ij"))
    was_training = model.training
    model.eval()
    try:
        out = [
            _through(rest, u0 + a[s : s + batch_size] * u1 + b[s : s + batch_size] * u2)
            .argmax(1)
            .cpu()
            for s in range(0, grid * grid, batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy().reshape(grid, grid)


def _first_layer_on_plane(
    model: nn.Module, anchors: torch.Tensor
) -> tuple[list[nn.Module], torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """The leaf modules after a ReLU MLP's first ``Linear`` and that layer's output at ``x0``
    and its changes along ``x1 - x0`` and ``x2 - x0``; None for another network, or where the
    chain does not give the model's logits at the anchors (eval mode, to 1e-4 of their scale)."""
    try:
        first, *rest = mlp_leaves(model)
    except NotAnMLP:
        return None
    flat = anchors.reshape(3, -1)
    u0 = first(flat[:1])[0]
    u1, u2 = (torch.nn.functional.linear(flat[i] - flat[0], first.weight) for i in (1, 2))
    was_training = model.training
    model.eval()
    try:
        got = _through(rest, torch.stack([u0, u0 + u1, u0 + u2]))
        want = model(anchors)
    finally:
        model.train(was_training)
    if (got - want).abs().max() > 1e-4 * (1 + want.abs().max()):
        return None
    return rest, u0, u1, u2


def _through(modules: Sequence[nn.Module], z: torch.Tensor) -> torch.Tensor:
    for m in modules:
        z = m(z)
    return z


@dataclass(frozen=True)
class Plane:
    """A plane of the input space: ``anchors`` (3, *input_shape), sampled on ``grid x grid``
    points over the coefficient box ``[-margin, 1 + margin]^2`` (:func:`grid_inputs`)."""

    anchors: torch.Tensor
    grid: int
    margin: float

    def inputs(self) -> torch.Tensor:
        """The grid's inputs (grid*grid, *input_shape)."""
        return grid_inputs(self.anchors, self.grid, self.margin)[0]


def anchor_indices(labels: torch.Tensor, classes: Sequence[int] = (0, 1, 2)) -> list[int]:
    """Index of the first sample of each of ``classes`` (a fixed, seed-free choice)."""
    out = []
    for c in classes:
        hits = (labels == c).nonzero()
        if len(hits) == 0:
            raise ValueError(f"no sample of class {c} to anchor the input grid")
        out.append(int(hits[0]))
    return out


def watch_anchors(data: DatasetSplits) -> torch.Tensor:
    """The three inputs (3, *input_shape) spanning the watched plane: the first test samples of
    classes 0, 1 and 2."""
    idx = anchor_indices(data.test.y.cpu())
    return data.test.get(torch.tensor(idx, device=data.test.y.device))[0]


def watch_inputs(data: DatasetSplits, grid: int = 100, margin: float = 0.25) -> torch.Tensor:
    """The ``grid x grid`` inputs whose partition codes are watched: the plane through
    :func:`watch_anchors` (see the module conventions)."""
    return grid_inputs(watch_anchors(data), grid, margin)[0]


def boundary_map(labels: np.ndarray) -> np.ndarray:
    """(grid, grid) bool of ``labels`` (grid, grid, ...) on the row-major grid of
    :func:`grid_inputs`: True where a point's label (all trailing entries together) differs from
    that of its neighbour at the next ``a`` (row) or the next ``b`` (column)."""
    g = labels.reshape(labels.shape[0], labels.shape[1], -1)
    out = np.zeros(g.shape[:2], dtype=bool)
    out[:-1] |= (g[:-1] != g[1:]).any(-1)
    out[:, :-1] |= (g[:, :-1] != g[:, 1:]).any(-1)
    return out


def grid_partition(model: nn.Module, x: torch.Tensor, grid: int, batch_size: int = 2500) -> dict:
    """The partition of ``model`` on the ``grid x grid`` inputs ``x`` (of :func:`grid_inputs`):
    ``layer_boundaries`` (layers, grid, grid) bool, each ReLU layer's sign changes;
    ``boundary`` (grid, grid), the whole code's (their union); ``classes`` (grid, grid), the
    argmax class, and ``decision`` (grid, grid), where it changes; ``regions``, the number of
    distinct codes, and ``regions_per_layer``, of the codes of layers 1..l."""
    codes, classes = bits_and_classes(model, x, batch_size)  # one forward pass
    flat = [b.numpy() for b in codes]
    bits = [b.reshape(grid, grid, -1) for b in flat]
    classes = classes.reshape(grid, grid)
    layers = np.stack([boundary_map(b) for b in bits])
    regions = [distinct_codes(flat[: i + 1]) for i in range(len(flat))]
    return {
        "layer_boundaries": layers,
        "boundary": layers.any(0),
        "classes": classes,
        "decision": boundary_map(classes),
        "regions": regions[-1],
        "regions_per_layer": regions,
    }
