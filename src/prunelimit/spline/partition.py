"""The partition of the input plane as pruning proceeds (You et al., TMLR 2022, Figs. 1-3).

The l1 network of an experiment, on the spline stage's plane through three test signals
(:func:`~prunelimit.partition.plane.watch_anchors`, coefficients ``[-margin, 1 + margin]``),
one-shot pruned, nothing retrained:

- **weights** (one panel per :func:`partition_ratios`): global magnitude pruning of the weights
  to kept ratios around the limit;
- **nodes** (one panel per :data:`NODES_PRUNED`, as the paper's Fig. 2 prunes FCNet nodes): in
  every node layer (:func:`~prunelimit.spline.nodes.node_layers`) the fraction of nodes with the
  smallest l2 norm of their incoming weights removed (their weights, bias and BatchNorm zeroed,
  so their output is 0 and their boundary gone).

Per panel the partition is measured twice: on the ``grid x grid`` points (codes,
:func:`~prunelimit.partition.plane.grid_partition`: ``grid_regions``, the boundary maps) and
exactly (:func:`~prunelimit.partition.exact.exact_partition`: ``regions``, the boundary and
decision segments) for a chain of ReLUs and affine modules (an MLP, a small convnet). A network
that is none (max pooling, shortcuts, a layer too large to lower), or whose plane has more than
:data:`MAX_REGIONS` regions, has ``regions`` None and the reason in ``exact_note``.

Arrays of ``partition.npz``, P panels in the record's order: ``coef`` (grid,), ``rho`` (P,);
``layer_boundaries`` (P, layers, grid, grid), ``decision`` and ``classes`` (P, grid, grid)
from the grid; ``backdrop`` (P, n, n) the argmax class behind the figure's lines (``n`` is
:data:`BACKDROP` for a ReLU MLP, the grid otherwise: :func:`_backdrop`); ``exact`` (P,) bool;
``layer{l}_segments`` (S, 2, 2) float32 in ``(a, b)`` for layers ``l = 1..layers`` and
``decision_segments``, each with ``*_offsets`` (P + 1,): panel ``i`` owns rows
``offsets[i]:offsets[i + 1]``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from prunelimit.data import DatasetSplits
from prunelimit.partition.affine import NotAnMLP, mlp_leaves
from prunelimit.partition.exact import PlanePartition, try_exact
from prunelimit.partition.plane import grid_inputs, grid_partition, plane_classes, watch_anchors
from prunelimit.pruning import Masks, apply_masks, keep_count, magnitude_path, prunable_weights
from prunelimit.spline.nodes import node_layers, node_param_masks, output_positions, structure
from prunelimit.spline.pruning import magnitude_scores, select_nodes
from prunelimit.training.loop import evaluate

NODES_PRUNED = (0.2, 0.4, 0.6, 0.8, 0.9)  # fractions of every node layer's nodes removed
BACKDROP = 300  # the class backdrop's grid of a ReLU MLP
# beyond: no exact partition (a panel of 3 inches shows no more; its segments would fill the
# npz at 16 bytes each, and FC5's 1.26 M regions on the MNIST-1D plane take ~160 s)
MAX_REGIONS = 500_000


def partition_ratios(rho_th: float, rho_loss: float | None) -> list[tuple[str, float]]:
    """The kept ratios of the weight-pruning panels, labelled: unpruned, ``2 rho_th`` (capped
    at 1), ``rho_th``, the actual limit ``rho_loss`` and half of it (the last two when it was
    found), in decreasing ``rho`` (as pruning proceeds; equal ratios in that order)."""
    points = [("unpruned", 1.0), ("2 rho_th", min(1.0, 2 * rho_th)), ("rho_th", rho_th)]
    if rho_loss is not None:
        points += [("rho_loss", rho_loss), ("rho_loss / 2", rho_loss / 2)]
    return sorted(points, key=lambda p: -p[1])


@contextmanager
def _pruned(model: nn.Module, masks: Masks) -> Iterator[nn.Module]:
    """``model`` with ``masks`` (any parameters) applied; every parameter restored on exit."""
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        apply_masks(model, masks)
        yield model
    finally:
        model.load_state_dict(saved)


def _panels(
    model: nn.Module, rho_th: float, rho_loss: float | None, input_shape: tuple[int, ...]
) -> list[dict]:
    """The panels: label, pruning kind, kept weights and node fractions, and their masks."""
    weights = {n: w.detach() for n, w in prunable_weights(model).items()}
    D = sum(w.numel() for w in weights.values())
    path = magnitude_path(weights)  # one sort for every ratio
    out = []
    for label, rho in partition_ratios(rho_th, rho_loss):
        keep = keep_count(rho, D)
        out.append({"label": label, "pruning": "weights", "rho": rho, "kept": keep,
                    "nodes_kept": None, "masks": path(keep)})  # fmt: skip
    layers = node_layers(model)
    if not layers:
        return out
    scores, positions = magnitude_scores(model, layers), output_positions(model, input_shape)
    for gone in NODES_PRUNED:
        kept = select_nodes(scores, 1.0 - gone, "layer")
        size = structure(model, layers, kept, positions)
        out.append({"label": f"{100 * gone:.0f} % of nodes pruned", "pruning": "nodes",
                    "rho": size["kept_weights"] / size["weights"], "kept": size["kept_weights"],
                    "nodes_kept": size["kept_nodes"] / size["nodes"],
                    "masks": node_param_masks(model, layers, kept)})  # fmt: skip
    return out


def _measure(
    model: nn.Module, data: DatasetSplits, anchors: torch.Tensor, grid: int, margin: float
) -> tuple[dict, dict, PlanePartition | None]:
    """One panel's partition: its record entries, its grid arrays and its exact partition."""
    x = grid_inputs(anchors, grid, margin)[0]
    part = grid_partition(model, x, grid)
    backdrop = _backdrop(model, anchors, margin, part["classes"])
    exact, note = try_exact(model, anchors, margin, MAX_REGIONS)
    entry = {
        "regions": None if exact is None else exact.regions,
        "regions_per_layer": None if exact is None else exact.regions_per_layer,
        "grid_regions": part["regions"],
        "grid_regions_per_layer": part["regions_per_layer"],
        "exact_note": note,
        "exact_seconds": None if exact is None else exact.seconds,
        "slivers_dropped": None if exact is None else exact.dropped,
        "decision_segments": None if exact is None else len(exact.decision),
        "boundary_fraction": float(part["boundary"].mean()),
        "decision_fraction": float(part["decision"].mean()),
        "classes_on_grid": np.unique(part["classes"]).tolist(),
        "test_acc": evaluate(model, data.test)[1],
    }
    arrays = {k: part[k] for k in ("layer_boundaries", "decision", "classes")}
    arrays["backdrop"] = backdrop
    return entry, arrays, exact


def _backdrop(
    model: nn.Module, anchors: torch.Tensor, margin: float, grid_classes: np.ndarray
) -> np.ndarray:
    """The argmax class behind a panel (int8, n x n): on a ``BACKDROP x BACKDROP`` grid for a
    ReLU MLP, whose first layer :func:`plane_classes` computes on the plane, and the partition
    grid's own classes for another network (each point a full forward pass: VGG16 at 300 x 300
    is 90,000 passes a panel)."""
    try:
        mlp_leaves(model)
    except NotAnMLP:
        return grid_classes.astype(np.int8)
    return plane_classes(model, anchors, BACKDROP, margin).astype(np.int8)


def partition_at_limit(
    name: str,
    data: DatasetSplits,
    model: nn.Module,
    rho_th: float,
    rho_loss: float | None,
    grid: int,
    margin: float,
    seed: int,
) -> tuple[dict, dict[str, np.ndarray]]:
    """The partition and decision boundary of ``model`` (experiment ``name``'s l1 network) on
    the spline stage's input plane, unpruned and pruned (module docstring); the model is left
    as it came. Returns the record (per panel: label, pruning, ``rho`` (kept weights),
    ``nodes_kept``, kept weights, exact and grid region counts, test accuracy) and the arrays
    of ``partition.npz`` (module docstring)."""
    t0 = time.perf_counter()
    anchors = watch_anchors(data)
    rows, arrays, exact = [], [], []
    for panel in _panels(model, rho_th, rho_loss, tuple(data.test.x.shape[1:])):
        masks = panel.pop("masks")
        with _pruned(model, masks):
            entry, arr, part = _measure(model, data, anchors, grid, margin)
        rows.append({**panel, **entry})
        arrays.append(arr)
        exact.append(part)
        print(
            f"{panel['label']} (rho {panel['rho']:.4f}, {panel['kept']} weights): "
            f"{entry['regions']} regions exactly (per layer {entry['regions_per_layer']}"
            f"{', ' + entry['exact_note'] if entry['exact_note'] else ''}), "
            f"{entry['grid_regions']} on the grid, test acc {entry['test_acc']:.4f}",
            flush=True,
        )
    record = {
        "experiment": name,
        "seed": seed,
        "grid": grid,
        "margin": margin,
        "D": sum(w.numel() for w in prunable_weights(model).values()),
        "rho_th": rho_th,
        "rho_loss": rho_loss,
        "points": rows,
        "seconds": time.perf_counter() - t0,
    }
    out = {k: np.stack([a[k] for a in arrays]) for k in arrays[0]}
    out["coef"] = np.linspace(-margin, 1 + margin, grid)  # the coefficients of grid_inputs
    out["rho"] = np.array([r["rho"] for r in rows])
    out.update(pack_segments(exact, out["layer_boundaries"].shape[1]))
    return record, out


def pack_segments(parts: list[PlanePartition | None], layers: int) -> dict[str, np.ndarray]:
    """The exact partitions' segments as the flat arrays of ``partition.npz`` (module
    docstring); a panel without one has no segments and ``exact`` False."""
    out = {"exact": np.array([p is not None for p in parts])}
    keys = [f"layer{i + 1}" for i in range(layers)] + ["decision"]
    for i, key in enumerate(keys):
        segs = [
            np.zeros((0, 2, 2))
            if p is None
            else (p.decision if key == "decision" else p.segments[i])
            for p in parts
        ]
        out[f"{key}_segments"] = np.concatenate(segs).astype(np.float32)
        out[f"{key}_offsets"] = np.concatenate([[0], np.cumsum([len(s) for s in segs])])
    return out
