"""Spline early-bird tickets: partition codes, their Hamming distances, the detection rule.

You et al., "Max-Affine Spline Insights into Deep Network Pruning" (TMLR 2022): a ReLU network
is a continuous piecewise-affine spline; the sign pattern of its pre-activations on an input
says which region of the input-space partition the input lies in. The partition settles early
in training, and the epoch at which it stops moving is an early-bird (EB) ticket.

Conventions here:

- **Partition code** of a model on an input set ``X``: for every ``nn.ReLU`` module (in call
  order), the bits ``input > 0`` of its input, one row per input. For BatchNorm networks the
  ReLU input is the BN output. Functional ``torch.relu`` calls (e.g. after a ResNet block's
  sum) are not seen; only ``nn.ReLU`` modules are hooked. Codes are computed in eval mode.
- **Distance** between two codes: per layer, the fraction of differing bits over all inputs
  and units (normalised Hamming distance), then the mean over layers (each layer weighs the
  same, whatever its width).
- **Detection** (the paper's rule): at epoch ``e >= window``, let ``m(e)`` be the largest
  distance between the code at ``e`` and the codes at ``e-1, ..., e-window``; the EB epoch is
  the first ``e`` with ``m(e) < threshold`` (strictly), or none. Epoch 0 is the initialisation.
- **Input grid** (our construction of the paper's "grid of combinations of test images"): three
  test inputs ``x0, x1, x2`` span a plane; the grid is
  ``x(a, b) = x0 + a (x1 - x0) + b (x2 - x0)`` for ``a, b`` on ``grid`` equally spaced values
  in ``[-margin, 1 + margin]``. With ``margin = 0`` it is the parallelogram whose lower triangle
  holds the convex combinations of the three; the default margin 0.25 puts all three samples
  inside the grid.

- **Partition on the grid**: a grid point lies on a boundary of the partition when its code
  differs from that of its neighbour at the next ``a`` or the next ``b`` (so a flagged point is
  within one grid step of the boundary it marks); per layer, the same with that layer's bits
  only. The **decision boundary** is the same rule applied to the argmax class. A region is a
  distinct code on the grid: the region of one code is convex (the network is affine on it), so
  its slice by the plane is one connected piece.

Codes are stored packed (64 bits per ``uint64`` word, one array per layer), so a 100x100 grid
on a 256-256-128 MLP takes 0.8 MB per epoch; distances use ``numpy.bitwise_count``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from prunelimit.io import atomic_path

if TYPE_CHECKING:
    from prunelimit.data import DatasetSplits

Code = list[np.ndarray]  # one packed bit array per ReLU layer


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


def anchor_indices(labels: torch.Tensor, classes: Sequence[int] = (0, 1, 2)) -> list[int]:
    """Index of the first sample of each of ``classes`` (a fixed, seed-free choice)."""
    out = []
    for c in classes:
        hits = (labels == c).nonzero()
        if len(hits) == 0:
            raise ValueError(f"no sample of class {c} to anchor the input grid")
        out.append(int(hits[0]))
    return out


def relu_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``nn.ReLU`` modules of ``model`` (name, module), in registration order."""
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    if not found:
        raise ValueError("the model has no nn.ReLU module to read partition codes from")
    return found


# Every way to apply a ReLU as a function; nn.ReLU modules call ``F.relu`` once each.
_RELU_FUNCTIONS = frozenset(
    {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}
)


class _ReluCalls(TorchFunctionMode):
    """Counts the ReLU calls of a forward pass, module or function alike."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_FUNCTIONS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def _check_every_relu_is_a_module(module_calls: int, all_calls: int) -> None:
    if all_calls > module_calls:
        raise ValueError(
            f"the model applies ReLU as a function (torch.relu, F.relu or Tensor.relu) in "
            f"{all_calls - module_calls} of its {all_calls} ReLU calls per forward pass: the "
            "partition code is read at nn.ReLU modules, so those units would be missing from "
            "it; make every ReLU an nn.ReLU module"
        )


@torch.no_grad()
def check_relu_modules(model: nn.Module, x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless every ReLU of ``model``'s forward pass on ``x`` is an
    ``nn.ReLU`` module, the only ReLUs the partition code can see."""
    partition_bits(model, x)


@torch.no_grad()
def partition_bits(model: nn.Module, x: torch.Tensor, batch_size: int = 2500) -> list[torch.Tensor]:
    """Unpacked partition code: one bool tensor (N, units) per ReLU call, in call order.
    Raises ``ValueError`` when a ReLU is applied as a function (its units would be missing)."""
    calls: list[list[torch.Tensor]] = []
    position = [0]

    def hook(_module: nn.Module, args: tuple) -> None:
        bits = (args[0] > 0).flatten(1).cpu()
        if position[0] == len(calls):
            calls.append([])
        calls[position[0]].append(bits)
        position[0] += 1

    handles = [m.register_forward_pre_hook(hook) for _, m in relu_modules(model)]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(x), batch_size):
            position[0] = 0
            if start == 0:  # one batch shows the forward pass's ReLUs
                with _ReluCalls() as relus:
                    model(x[:batch_size])
                _check_every_relu_is_a_module(position[0], relus.count)
            else:
                model(x[start : start + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return [torch.cat(parts) for parts in calls]


def pack(bits: torch.Tensor) -> np.ndarray:
    """Bits packed into ``uint64`` words (zero padded), for fast XOR and popcount."""
    packed = np.packbits(bits.numpy().reshape(-1))
    packed = np.pad(packed, (0, -len(packed) % 8))
    return packed.view(np.uint64)


def unpack(code: Code, sizes: Sequence[int], points: int) -> list[np.ndarray]:
    """The bits of a packed code: one bool array (points, units) per layer, ``sizes`` being
    each layer's bit count (points x units), as :func:`pack` wrote."""
    out = []
    for words, size in zip(code, sizes, strict=True):
        bits = np.unpackbits(np.ascontiguousarray(words).view(np.uint8))[:size].astype(bool)
        out.append(bits.reshape(points, size // points))
    return out


def partition_code(model: nn.Module, x: torch.Tensor, batch_size: int = 2500) -> Code:
    """Packed partition code of ``model`` on inputs ``x`` (see the module conventions)."""
    return [pack(b) for b in partition_bits(model, x, batch_size)]


def hamming(a: Code, b: Code, sizes: Sequence[int]) -> np.ndarray:
    """Per-layer normalised Hamming distance of two packed codes (``sizes``: bits per layer)."""
    return np.array(
        [
            np.bitwise_count(np.bitwise_xor(x, y)).sum(dtype=np.int64) / n
            for x, y, n in zip(a, b, sizes, strict=True)
        ]
    )


def distance_matrix(codes: Sequence[Code], sizes: Sequence[int], block: int = 2048) -> np.ndarray:
    """Symmetric (E, E) matrix of layer-averaged normalised Hamming distances between codes
    (XOR and popcount over blocks of ``block`` words, which keeps the temporaries in cache)."""
    E = len(codes)
    out = np.zeros((E, E))
    for layer, n in enumerate(sizes):
        words = np.stack([c[layer] for c in codes])
        diff = np.zeros((E, E), dtype=np.int64)
        for start in range(0, words.shape[1], block):
            blk = np.ascontiguousarray(words[:, start : start + block])
            for i in range(1, E):
                diff[i, :i] += np.bitwise_count(blk[:i] ^ blk[i]).sum(axis=1, dtype=np.int64)
        out += (diff + diff.T) / n
    return out / len(sizes)


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
    """``on_epoch_end`` observer of :func:`prunelimit.training.fit`: records the partition code
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


def watch_inputs(data: DatasetSplits, grid: int = 100, margin: float = 0.25) -> torch.Tensor:
    """The ``grid x grid`` inputs whose partition codes are watched: the plane through the first
    test samples of classes 0, 1 and 2 (see the module conventions)."""
    idx = anchor_indices(data.test.y.cpu())
    anchors, _ = data.test.get(torch.tensor(idx, device=data.test.y.device))
    return grid_inputs(anchors, grid, margin)[0]


def boundary_map(labels: np.ndarray) -> np.ndarray:
    """(grid, grid) bool of ``labels`` (grid, grid, ...) on the row-major grid of
    :func:`grid_inputs`: True where a point's label (all trailing entries together) differs from
    that of its neighbour at the next ``a`` (row) or the next ``b`` (column)."""
    g = labels.reshape(labels.shape[0], labels.shape[1], -1)
    out = np.zeros(g.shape[:2], dtype=bool)
    out[:-1] |= (g[:-1] != g[1:]).any(-1)
    out[:, :-1] |= (g[:, :-1] != g[:, 1:]).any(-1)
    return out


def distinct_codes(bits: Sequence[np.ndarray]) -> int:
    """The number of distinct whole codes among the rows of ``bits`` (one (N, units) bool array
    per layer, the layers' bits side by side): the regions the N inputs meet."""
    rows = np.packbits(np.concatenate([np.asarray(b) for b in bits], axis=1), axis=1)
    return len(np.unique(rows.view(np.dtype((np.void, rows.shape[1])))))


@torch.no_grad()
def predicted_classes(model: nn.Module, x: torch.Tensor, batch_size: int = 2500) -> np.ndarray:
    """Argmax class of ``model`` (eval mode) on every input of ``x``."""
    was_training = model.training
    model.eval()
    try:
        out = [model(x[s : s + batch_size]).argmax(1).cpu() for s in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()


def grid_partition(model: nn.Module, x: torch.Tensor, grid: int, batch_size: int = 2500) -> dict:
    """The partition of ``model`` on the ``grid x grid`` inputs ``x`` (of :func:`grid_inputs`):
    ``layer_boundaries`` (layers, grid, grid) bool, each ReLU layer's sign changes;
    ``boundary`` (grid, grid), the whole code's (their union); ``classes`` (grid, grid), the
    argmax class, and ``decision`` (grid, grid), where it changes; ``regions``, the number of
    distinct codes, and ``regions_per_layer``, of the codes of layers 1..l."""
    flat = [b.numpy() for b in partition_bits(model, x, batch_size)]
    bits = [b.reshape(grid, grid, -1) for b in flat]
    classes = predicted_classes(model, x, batch_size).reshape(grid, grid)
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
