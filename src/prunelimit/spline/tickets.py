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
from prunelimit.partition.codes import Code, distance_matrix, hamming, pack, partition_bits


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


class CodeRecorder:
    """``on_epoch_end`` observer of :func:`prunelimit.training.loop.fit`: records the partition code
    on fixed inputs after every epoch, keeps a copy of the weights at the first epoch where the
    early-bird rule fires, and the per-layer distances to the previous epoch.

    Call it once with ``epoch=0`` before training to record the initialisation. With ``spool``
    (a folder) every code is also written there, so that :meth:`load_state_dict` (called by
    ``fit`` when it resumes from a checkpoint holding :meth:`state_dict`) continues with exactly
    the codes of the interrupted run; the checkpoint itself stays small.
    """

    def __init__(
        self,
        x: torch.Tensor,
        threshold: float = 0.16,
        window: int = 3,
        batch_size: int = 2500,
        spool: str | Path | None = None,
    ):
        self.x, self.threshold, self.window, self.batch_size = x, threshold, window, batch_size
        self.spool = Path(spool) if spool is not None else None
        self.codes: list[Code] = []
        self.epochs: list[int] = []
        self.sizes: list[int] = []
        self.layer_steps: list[list[float]] = []  # per-layer distance to the previous epoch
        self.detected: int | None = None
        self.eb_state: dict[str, torch.Tensor] | None = None
        self.seconds = 0.0  # time spent recording

    def __call__(self, epoch: int, model: nn.Module) -> None:
        if self.epochs and epoch != self.epochs[-1] + 1:
            raise ValueError(f"epochs must be consecutive: got {epoch} after {self.epochs[-1]}")
        t0 = time.perf_counter()
        bits = partition_bits(model, self.x, self.batch_size)
        code = [pack(b) for b in bits]
        sizes = [b.numel() for b in bits]
        if self.sizes and sizes != self.sizes:
            raise ValueError(f"code sizes changed from {self.sizes} to {sizes}")
        self.sizes = sizes
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

    def state_dict(self) -> dict:
        """Everything but the codes (they are in the spool), for a training checkpoint."""
        if self.spool is None:
            raise ValueError("a resumable recorder needs a spool folder for its codes")
        keys = ("epochs", "sizes", "layer_steps", "detected", "eb_state", "seconds")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict) -> None:
        """Continue an interrupted recording: its state, and its codes read from the spool."""
        for k, v in state.items():
            setattr(self, k, v)
        self.codes = []
        for epoch in self.epochs:
            with np.load(self.spool / f"{epoch:06d}.npz") as f:
                self.codes.append([f[f"arr_{i}"] for i in range(len(self.sizes))])

    def matrix(self) -> np.ndarray:
        """The (E, E) distance matrix over all recorded epochs."""
        return distance_matrix(self.codes, self.sizes)

    def observations(self) -> dict:
        """What the spline stage reads of the run: epochs, code sizes, distances (matrix and
        per-layer steps), the detection at ``threshold`` and the weights there, timings."""
        t0 = time.perf_counter()
        dist = self.matrix()
        detected = detect_early_bird(dist, self.threshold, self.window)
        if detected != self.detected:
            raise RuntimeError(f"online early-bird epoch {self.detected} != offline {detected}")
        return {
            "watched": True,
            "threshold": self.threshold,
            "window": self.window,
            "points": len(self.x),
            "epochs": self.epochs,
            "code_bits_per_layer": self.sizes,
            "distances": torch.from_numpy(dist),  # float64 (a torch file holds no numpy)
            "step_distance_per_layer": self.layer_steps,
            "detected_epoch": detected,
            "eb_state": self.eb_state,
            "seconds": {"record": self.seconds, "distance_matrix": time.perf_counter() - t0},
        }
