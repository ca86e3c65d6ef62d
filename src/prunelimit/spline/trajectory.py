"""Spline trajectories during training (You et al., Fig. 4): the input-plane partition of the
watched run at every recorded epoch.

The :class:`~prunelimit.spline.tickets.CodeRecorder` of a watched run keeps, per epoch, from the
whole partition code on the ``grid x grid`` inputs of
:func:`~prunelimit.partition.plane.watch_inputs`: each ReLU layer's boundary map
(:func:`~prunelimit.partition.plane.boundary_map` of that layer's bits: the grid points whose code
differs from the next point's along either axis) and the number of regions (distinct whole
codes on the grid); :meth:`~prunelimit.spline.tickets.CodeRecorder.trajectory` adds the
fraction of grid points whose whole-code boundary flag changed since the previous epoch (0 at
the first epoch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from prunelimit.data import DatasetSplits
from prunelimit.partition.plane import watch_inputs
from prunelimit.spline.tickets import CodeRecorder


def trajectory_arrays(observed: dict, grid: int) -> dict[str, np.ndarray]:
    """The trajectory stored in a watched run's observations (``trajectory``, CPU tensors) as
    numpy arrays for ``spline/trajectory.npz``, with ``coef`` (the grid's coefficients of
    :func:`~prunelimit.partition.plane.grid_inputs`); a watch file written before trajectories
    were recorded gives zero epochs (the figure says so)."""
    stored = observed.get("trajectory")
    if stored is None:
        print("the watch file holds no partition trajectory: rerun its train job to record one")
        layers = len(observed.get("code_bits_per_layer", []))
        stored = {
            "epochs": np.zeros(0, dtype=np.int64),
            "layer_boundaries": np.zeros((0, layers, grid, grid), dtype=bool),
            "regions": np.zeros(0, dtype=np.int64),
            "moved": np.zeros(0),
        }
    margin = float(observed.get("margin", 0.25))
    arrays = {k: np.asarray(v) for k, v in stored.items()}
    return {**arrays, "coef": np.linspace(-margin, 1 + margin, grid)}


def watch_recorder(data: DatasetSplits, watch: dict, spool: Path | None) -> CodeRecorder:
    """The observer of a watched training run: the partition codes on the plane of
    :func:`~prunelimit.partition.plane.watch_inputs` (``watch``: ``grid``, ``margin``,
    ``threshold``, ``window``), spooled to ``spool`` so that a resumed run continues them."""
    grid = int(watch["grid"])
    x = watch_inputs(data, grid, float(watch["margin"]))
    return CodeRecorder(x, float(watch["threshold"]), int(watch["window"]), spool=spool, grid=grid)


def watched(recorder: CodeRecorder, watch: dict, history: dict) -> dict:
    """What the spline stage reads of a watched run (``{kind}_watch.pt``): the recorder's
    observations, the partition at every recorded epoch and the run's accuracy and loss."""
    observed = {**recorder.observations(), "grid": watch["grid"], "margin": watch["margin"]}
    observed["trajectory"] = {k: torch.from_numpy(v) for k, v in recorder.trajectory().items()}
    observed["test_acc"] = [None, *history["test_acc"]]
    observed["train_loss"] = [None, *history["train_loss"]]
    return observed
