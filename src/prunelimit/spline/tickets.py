"""Spline early-bird tickets: the partition's movement over training and the detection rule.

You et al., "Max-Affine Spline Insights into Deep Network Pruning" (TMLR 2022): the input-space
partition of a ReLU network (:mod:`prunelimit.partition`) settles early in training, and the
epoch at which it stops moving is an early-bird (EB) ticket.

**Detection** (the paper's rule): at epoch ``e >= window``, let ``m(e)`` be the largest
distance (:func:`prunelimit.partition.codes.hamming`, averaged over layers) between the code at
``e`` and the codes at ``e-1, ..., e-window``; the EB epoch is the first ``e`` with
``m(e) < threshold`` (strictly), or none. Epoch 0 is the initialisation.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from prunelimit.io import atomic_path
from prunelimit.partition.codes import (
    Code,
    distance_matrix,
    distinct_codes,
    hamming,
    pack,
    partition_bits,
)
from prunelimit.partition.plane import boundary_map

# Bits of one layer's code that the distances read at most (2 MB a layer and epoch). Beyond it,
# a fixed random subset of the layer's units, each with all its inputs: the mean over units of
# the fraction of inputs whose bit differs, estimated from units drawn uniformly without
# replacement (unbiased; standard error at most 0.5 / sqrt(units read)). An MLP of the paper
# grid at the 100 x 100 grid keeps every unit (FC5's widest layer: 1,000 units, 10 M bits);
# VGG16's widest (64 channels x 32 x 32) keeps 1,677 of 65,536, and its whole code takes 27 MB
# an epoch instead of 345 MB.
MAX_LAYER_BITS = 2**24


def window_max(distances: np.ndarray, window: int = 3) -> np.ndarray:
    """``m(e)``: largest distance from epoch ``e`` to the ``window`` epochs before it.

    ``distances`` is the (E, E) matrix over epochs 0..E-1; entries for ``e < window`` are NaN.
    """
    E = len(distances)
    out = np.full(E, np.nan)
    for e in range(window, E):
        out[e] = distances[e, e - window : e].max()
    return out


def detect_early_bird(
    distances: np.ndarray, threshold: float = 0.16, window: int = 3
) -> int | None:
    """First epoch ``e`` whose largest distance to the last ``window`` codes is below
    ``threshold`` (strictly), or None if the partition never settles that much."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    m = window_max(distances, window)
    hits = np.nonzero(m < threshold)[0]
    return int(hits[0]) if len(hits) else None


def sampled_units(units: int, points: int, max_bits: int, layer: int) -> np.ndarray | None:
    """The units of a layer whose bits the distances read: None (all of them) when
    ``units x points`` fits ``max_bits``, else ``max_bits // points`` of them (at least one),
    drawn without replacement with the layer's index as seed, in ascending order."""
    if units * points <= max_bits:
        return None
    rng = np.random.default_rng(layer)
    return np.sort(rng.choice(units, max(1, max_bits // points), replace=False))


class CodeRecorder:
    """``on_epoch_end`` observer of :func:`prunelimit.training.loop.fit`: records the partition code
    on fixed inputs after every epoch, keeps a copy of the weights at the first epoch where the
    early-bird rule fires, and the per-layer distances to the previous epoch.

    Call it once with ``epoch=0`` before training to record the initialisation. A layer whose
    code exceeds ``max_layer_bits`` is read on a fixed subset of its units
    (:data:`MAX_LAYER_BITS`, :func:`sampled_units`), so memory stays bounded for convolutional
    networks. With ``grid`` (the inputs are the ``grid x grid`` points of
    :func:`~prunelimit.partition.plane.grid_inputs`) it also keeps the partition on the plane at
    every epoch (:meth:`trajectory`), from the whole code. With ``spool`` (a folder) every code is
    also written there, so that :meth:`load_state_dict` (called by ``fit`` when it resumes from
    a checkpoint holding :meth:`state_dict`) continues with exactly the codes of the interrupted
    run; the checkpoint itself stays small.
    """

    def __init__(
        self,
        x: torch.Tensor,
        threshold: float = 0.16,
        window: int = 3,
        batch_size: int = 2500,
        spool: str | Path | None = None,
        grid: int | None = None,
        max_layer_bits: int = MAX_LAYER_BITS,
    ):
        self.x, self.threshold, self.window, self.batch_size = x, threshold, window, batch_size
        self.spool = Path(spool) if spool is not None else None
        if grid is not None and grid * grid != len(x):
            raise ValueError(f"{len(x)} watched inputs are not a {grid} x {grid} grid")
        self.grid, self.max_layer_bits = grid, int(max_layer_bits)
        self.codes: list[Code] = []
        self.epochs: list[int] = []
        self.units: list[int] = []  # per layer: units of the whole code
        self.sizes: list[int] = []  # per layer: bits the distances read
        self.layer_steps: list[list[float]] = []  # per-layer distance to the previous epoch
        self.detected: int | None = None
        self.eb_state: dict[str, torch.Tensor] | None = None
        self.seconds = 0.0  # time spent recording
        self.boundaries: list[np.ndarray] = []  # per epoch: (layers, grid, grid) bool
        self.regions: list[int] = []  # per epoch: distinct codes on the grid

    def kept_units(self) -> list[np.ndarray | None]:
        """Per layer, the units the distances read (None: all)."""
        points = len(self.x)
        return [sampled_units(u, points, self.max_layer_bits, i) for i, u in enumerate(self.units)]

    def __call__(self, epoch: int, model: nn.Module) -> None:
        if self.epochs and epoch != self.epochs[-1] + 1:
            raise ValueError(f"epochs must be consecutive: got {epoch} after {self.epochs[-1]}")
        t0 = time.perf_counter()
        bits = partition_bits(model, self.x, self.batch_size)
        units = [b.shape[1] for b in bits]
        if self.units and units != self.units:
            raise ValueError(f"code sizes changed from {self.units} units to {units}")
        self.units = units
        read = [
            b if k is None else b[:, torch.from_numpy(k)]
            for b, k in zip(bits, self.kept_units(), strict=True)
        ]
        code = [pack(b) for b in read]
        self.sizes = [b.numel() for b in read]
        if self.grid is not None:
            self._trace([b.numpy() for b in bits])
        del bits, read
        if self.spool is not None:
            with atomic_path(self.spool / f"{epoch:06d}.npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, *code)
        if self.codes:
            self.layer_steps.append(hamming(code, self.codes[-1], self.sizes).tolist())
        self.codes.append(code)
        self.epochs.append(epoch)
        m = float("nan")
        if self.detected is None and len(self.codes) > self.window:  # once found, no more
            m = max(
                float(hamming(code, prev, self.sizes).mean())
                for prev in self.codes[-self.window - 1 : -1]
            )
        if m < self.threshold:
            self.detected = epoch
            self.eb_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            print(f"early-bird ticket at epoch {epoch}: max distance {m:.4f}", flush=True)
        self.seconds += time.perf_counter() - t0

    def _trace(self, bits: list[np.ndarray]) -> None:
        """The partition on the grid at this epoch: each layer's boundary map
        (:func:`~prunelimit.partition.plane.boundary_map`) and the distinct whole codes."""
        g = self.grid
        self.boundaries.append(np.stack([boundary_map(b.reshape(g, g, -1)) for b in bits]))
        self.regions.append(distinct_codes(bits))

    def trajectory(self) -> dict[str, np.ndarray]:
        """The partition at every recorded epoch: ``epochs`` (E,), ``layer_boundaries`` (E,
        layers, grid, grid) bool, ``regions`` (E,) and ``moved`` (E,): the fraction of grid
        points whose boundary flag (any layer's) changed since the previous epoch (0 at the
        first). Needs ``grid``."""
        if self.grid is None:
            raise ValueError("the recorder was not given the grid of its inputs")
        g, layers = self.grid, len(self.units)
        maps = np.stack(self.boundaries) if self.boundaries else np.zeros((0, layers, g, g), bool)
        whole = maps.any(axis=1)
        moved = np.zeros(len(whole))
        moved[1:] = (whole[1:] != whole[:-1]).mean(axis=(1, 2))
        return {
            "epochs": np.asarray(self.epochs, dtype=np.int64),
            "layer_boundaries": maps,
            "regions": np.asarray(self.regions, dtype=np.int64),
            "moved": moved,
        }

    def state_dict(self) -> dict:
        """Everything but the codes (they are in the spool), for a training checkpoint."""
        if self.spool is None:
            raise ValueError("a resumable recorder needs a spool folder for its codes")
        keys = ("epochs", "units", "sizes", "layer_steps", "detected", "eb_state", "seconds")
        maps = [torch.from_numpy(m) for m in self.boundaries]  # a checkpoint holds no numpy
        return {**{k: getattr(self, k) for k in keys}, "boundaries": maps,
                "regions": list(self.regions)}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        """Continue an interrupted recording: its state, and its codes read from the spool."""
        for k, v in state.items():
            setattr(self, k, v)
        self.boundaries = [np.asarray(m) for m in self.boundaries]
        self.codes = []
        for epoch in self.epochs:
            with np.load(self.spool / f"{epoch:06d}.npz") as f:
                self.codes.append([f[f"arr_{i}"] for i in range(len(self.sizes))])

    def matrix(self) -> np.ndarray:
        """The (E, E) distance matrix over all recorded epochs."""
        return distance_matrix(self.codes, self.sizes)

    def observations(self) -> dict:
        """What the spline stage reads of the run: epochs, code sizes (``units_per_layer``; the
        bits the distances read, ``code_bits_per_layer``, of ``sampled_units_per_layer``),
        distances (matrix and per-layer steps), the detection at ``threshold`` and the weights
        there, timings."""
        t0 = time.perf_counter()
        dist = self.matrix()
        detected = detect_early_bird(dist, self.threshold, self.window)
        if detected != self.detected:
            raise RuntimeError(f"online early-bird epoch {self.detected} != offline {detected}")
        kept = [
            u if k is None else len(k) for u, k in zip(self.units, self.kept_units(), strict=True)
        ]
        return {
            "watched": True,
            "threshold": self.threshold,
            "window": self.window,
            "points": len(self.x),
            "epochs": self.epochs,
            "units_per_layer": self.units,
            "sampled_units_per_layer": kept,
            "code_bits_per_layer": self.sizes,
            "distances": torch.from_numpy(dist),  # float64 (a torch file holds no numpy)
            "step_distance_per_layer": self.layer_steps,
            "detected_epoch": detected,
            "eb_state": self.eb_state,
            "seconds": {"record": self.seconds, "distance_matrix": time.perf_counter() - t0},
        }
