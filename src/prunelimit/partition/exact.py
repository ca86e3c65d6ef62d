"""The exact partition of a ReLU network on a 2-D plane of its input space: an MLP or a small
convnet, any chain of ReLUs and affine modules (:mod:`~prunelimit.partition.affine`).

The plane is that of :func:`~prunelimit.partition.plane.grid_inputs`:
``x(a, b) = x0 + a (x1 - x0) + b (x2 - x0)`` over the box ``[-margin, 1 + margin]^2`` of
``(a, b)``. On it every pre-activation is piecewise affine in ``(a, b)``, and the partition is
enumerated layer by layer (the network read as :class:`~prunelimit.partition.affine.AffineChain`):

1. start from the box; within each region of layers ``1..l-1`` (a convex polygon, on which
   layer ``l``'s pre-activations ``z = W_l h_{l-1} + b_l`` are affine in ``(a, b)``), cut the
   polygon by the zero line of every unit whose line crosses it (half-plane clipping of convex
   polygons, :mod:`.polygons`); the pieces are the regions of layers ``1..l``;
2. a region's **code** is the sign pattern ``z > 0`` of every layer at an interior point of its
   polygon (the mean of its vertices): the code of :mod:`.codes` at that point. On the region
   ``h_l = z * code`` is affine, which gives the next layer's ``z``;
3. layer ``l``'s **boundary segments** are each crossing unit's zero line clipped to the region
   of layers ``1..l-1`` it crosses: the straight pieces of the unit's bent hyperplane;
4. on each final region the logits are affine; the **decision boundary** is, per region, the
   set where two classes tie and no class is above them (the tie line clipped to the polygon,
   then to the half-planes where each other class is below). Regions whose vertices all have
   the same argmax hold one class (each class's cell is convex) and are skipped.

Arithmetic is float64. Tolerances (``tol``, a distance in ``(a, b)`` units, the box being
``1 + 2 margin`` wide): a vertex within ``tol`` of a line lies on it; a line cuts a polygon only
when vertices lie farther than ``tol`` on both sides; pieces of area below ``min_area`` are
dropped (counted in ``dropped``), as are decision segments shorter than ``tol``. A decision
boundary lying exactly along a region's edge (a measure-zero coincidence) is not drawn.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from prunelimit.partition import polygons as pg
from prunelimit.partition.affine import AffineChain, NotAnMLP, affine_chain
from prunelimit.partition.decision import decision_segments

TOL = 1e-9
MIN_AREA = 1e-12
CHUNK = 512  # regions processed together (memory: CHUNK x width x vertices floats)


class TooManyRegions(RuntimeError):
    """The partition has more regions than the limit given to :func:`exact_partition`."""


@dataclass
class PlanePartition:
    """The exact partition of a network on the box ``[lo, hi]^2`` of its input plane.

    ``vertices`` (sum of counts, 2): the regions' polygons one after another, ``(a, b)``
    coordinates, ``offsets`` (regions + 1) their bounds; ``codes``: per layer the regions'
    packed sign bits (``np.packbits`` along units, see :meth:`code`); ``segments``: per layer
    (S, 2, 2) the ends of its boundary segments, ``segment_units`` (S,) their units;
    ``decision`` (S, 2, 2) and ``decision_classes`` (S, 2) the decision boundary and the two
    classes tied on each piece; ``regions_per_layer``: regions of layers ``1..l``. Enumerated
    with ``geometry=False``, only the counts are kept (no polygons, codes or segments)."""

    lo: float
    hi: float
    widths: list[int]
    vertices: np.ndarray
    offsets: np.ndarray
    codes: list[np.ndarray]
    segments: list[np.ndarray]
    segment_units: list[np.ndarray]
    decision: np.ndarray
    decision_classes: np.ndarray
    regions_per_layer: list[int]
    dropped: int = 0
    dropped_area: float = 0.0
    seconds: float = 0.0

    @property
    def regions(self) -> int:
        """The number of regions of the whole network."""
        return self.regions_per_layer[-1]

    def polygon(self, i: int) -> np.ndarray:
        """Region ``i``'s vertices (V, 2) in ``(a, b)``."""
        return self.vertices[self.offsets[i] : self.offsets[i + 1]]

    def code(self, layer: int) -> np.ndarray:
        """(regions, n_layer) bool: layer ``layer``'s (0-based) sign bits of every region."""
        return np.unpackbits(self.codes[layer], axis=1, count=self.widths[layer]).astype(bool)

    def areas(self) -> np.ndarray:
        """(regions,) the polygons' areas."""
        u, v = self.vertices[:, 0], self.vertices[:, 1]
        nxt = np.arange(1, len(u) + 1)
        nxt[self.offsets[1:] - 1] = self.offsets[:-1]  # each polygon closes on its first vertex
        cross = u * v[nxt] - u[nxt] * v
        return 0.5 * np.abs(np.add.reduceat(cross, self.offsets[:-1])) if len(u) else cross


@dataclass
class _Run:
    """What the enumeration collects, chunk by chunk."""

    chain: AffineChain
    tol: float
    min_area: float
    max_regions: int | None
    geometry: bool = True
    regions: list[pg.Batch] = field(default_factory=list)
    codes: list[list[np.ndarray]] = field(default_factory=list)
    segments: list[list[np.ndarray]] = field(default_factory=list)
    units: list[list[np.ndarray]] = field(default_factory=list)
    decision: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    dropped: int = 0
    dropped_area: float = 0.0


def plane_basis(anchors: torch.Tensor) -> np.ndarray:
    """(3, n_0) float64: ``x0, x1 - x0, x2 - x0`` of the three ``anchors``, flattened: the
    coefficients of the constant, ``a`` and ``b`` in ``x(a, b)``."""
    if anchors.shape[0] != 3:
        raise ValueError(f"need 3 anchor inputs, got {anchors.shape[0]}")
    x = anchors.reshape(3, -1).double().cpu().numpy()
    return np.stack([x[0], x[1] - x[0], x[2] - x[0]])


def exact_partition(
    model: nn.Module,
    anchors: torch.Tensor,
    margin: float = 0.25,
    tol: float = TOL,
    min_area: float = MIN_AREA,
    max_regions: int | None = None,
    geometry: bool = True,
) -> PlanePartition:
    """The exact partition of ``model`` (a chain of ReLUs and affine modules, eval mode; pruned
    weights zero) on the
    plane through ``anchors`` (3, *input_shape), see the module docstring; with ``geometry``
    False only its counts (memory: one chunk's polygons). Raises :class:`TooManyRegions` once a
    layer has more than ``max_regions`` regions."""
    t0 = time.perf_counter()
    lo, hi = -margin, 1.0 + margin
    corners = torch.tensor([[lo, lo], [hi, lo], [hi, hi], [lo, hi]], dtype=torch.float64)
    basis = plane_basis(anchors)
    inputs = torch.as_tensor(corners.numpy() @ basis[1:] + basis[0]).reshape(4, *anchors.shape[1:])
    chain = affine_chain(model, inputs.to(anchors.dtype).to(anchors.device))
    layers = len(chain.hidden)
    run = _Run(chain, tol, min_area, max_regions, geometry, counts=[0] * layers)
    run.segments, run.units = [[] for _ in range(layers)], [[] for _ in range(layers)]
    _descend(run, 0, pg.box(lo, hi), basis[None], [])
    return _collect(run, lo, hi, time.perf_counter() - t0)


ENV_CAP = "PRUNELIMIT_MAX_EXACT_REGIONS"


def try_exact(
    model: nn.Module,
    anchors: torch.Tensor,
    margin: float,
    max_regions: int | None,
    geometry: bool = True,
) -> tuple[PlanePartition | None, str | None]:
    """:func:`exact_partition`, or None and the reason where the model is no such chain or has
    more than ``max_regions`` regions on the plane. The environment variable
    ``PRUNELIMIT_MAX_EXACT_REGIONS`` lowers that cap (the CPU rehearsal of the paper grid sets
    it: FC5 on a CIFAR plane has about a million regions, minutes a count)."""
    cap = os.environ.get(ENV_CAP, "")
    if cap:
        if not cap.isdigit():
            raise ValueError(f"{ENV_CAP} must be a number of regions, got {cap!r}")
        max_regions = int(cap) if max_regions is None else min(max_regions, int(cap))
    try:
        part = exact_partition(model, anchors, margin, max_regions=max_regions, geometry=geometry)
        return part, None
    except (NotAnMLP, TooManyRegions) as err:
        return None, str(err)


def _descend(
    run: _Run, layer: int, batch: pg.Batch, maps: np.ndarray, codes: list[np.ndarray]
) -> None:
    """Cut the regions ``batch`` of layers ``1..layer`` (0-based ``layer``: their count; the
    layer input on them is affine, ``maps`` (P, 3, n): coefficients of 1, a, b) by the next
    layer, then go on with the pieces, ``CHUNK`` regions at a time."""
    w, b = run.chain.hidden[layer]
    z = maps @ w.T
    z[:, 0] += b  # (P, 3, n): the layer's pre-activations on each region
    pieces, parent = _cut(run, layer, batch, z)
    _check_limit(run, layer, len(parent))
    run.counts[layer] += len(parent)
    last = layer + 1 == len(run.chain.hidden)
    for start in range(0, len(parent), CHUNK):  # the pieces' maps: CHUNK at a time in memory
        part = slice(start, start + CHUNK)
        sub, up = pg.take(pieces, part), parent[part]
        point = pg.interior_point(*sub)
        sub_maps = z[up]
        homogeneous = np.concatenate([np.ones((len(point), 1)), point], 1)[:, None, :]
        bits = (homogeneous @ sub_maps)[:, 0] > 0  # the signs at the interior point
        sub_codes = [c[up] for c in codes] + [np.packbits(bits, axis=1)]
        sub_maps *= bits[:, None, :]  # h = relu(z) is z * code on the piece
        if last:
            _record(run, sub, sub_maps, sub_codes)
        else:
            _descend(run, layer + 1, sub, sub_maps, sub_codes)


def _check_limit(run: _Run, layer: int, pieces: int) -> None:
    """Raise :class:`TooManyRegions` when layer ``layer`` (0-based) would pass the limit with
    ``pieces`` more regions."""
    if run.max_regions is not None and run.counts[layer] + pieces > run.max_regions:
        raise TooManyRegions(
            f"layer {layer + 1} has more than {run.max_regions} regions on the plane"
        )


def _cut(run: _Run, layer: int, batch: pg.Batch, z: np.ndarray) -> tuple[pg.Batch, np.ndarray]:
    """The pieces of the polygons ``batch`` cut by their units' zero lines (``z`` (P, 3, n)),
    and each piece's polygon index; records the layer's boundary segments.

    Divide and conquer over (piece, unit) pairs, the units whose line crosses the piece: every
    piece with a pair is cut by its first one, and each of the two halves keeps the rest of the
    pairs whose line still crosses it; all pieces advance together, one cut per step."""
    lines = pg.normalise(z.transpose(0, 2, 1))  # (P, n, 3)
    rows, units = np.nonzero(pg.crossing_many(batch[0], lines, run.tol))  # grouped by piece
    if run.geometry:
        run.segments[layer].append(pg.chord(*pg.take(batch, rows), lines[rows, units], run.tol))
        run.units[layer].append(units)
    done, pieces, parent = [], batch, np.arange(len(batch[1]))
    while len(rows):
        _check_limit(run, layer, sum(len(d[1]) for d in done) + len(parent))
        first = np.r_[True, rows[1:] != rows[:-1]]
        cut = rows[first]
        idle = np.ones(len(parent), dtype=bool)
        idle[cut] = False
        done.append((pg.take(pieces, idle), parent[idle]))
        pos, neg = pg.split(*pg.take(pieces, cut), lines[parent[cut], units[first]], run.tol)
        pieces, parent = pg.concat([pos, neg]), np.tile(parent[cut], 2)
        slot = np.zeros(len(idle), dtype=int)
        slot[cut] = np.arange(len(cut))
        rest = slot[rows[~first]]
        rows, units = np.concatenate([rest, rest + len(cut)]), np.tile(units[~first], 2)
        pieces, parent, rows, units = _crossed(run, pieces, parent, lines, rows, units)
    done.append((pieces, parent))
    return pg.concat([d[0] for d in done]), np.concatenate([d[1] for d in done])


def _crossed(
    run: _Run,
    pieces: pg.Batch,
    parent: np.ndarray,
    lines: np.ndarray,
    rows: np.ndarray,
    units: np.ndarray,
    block: int = 1 << 18,
) -> tuple[pg.Batch, np.ndarray, np.ndarray, np.ndarray]:
    """The pieces without slivers (area below ``min_area``, counted as dropped), renumbered,
    and the pairs (piece ``rows``, ``units``) whose line crosses their piece, in blocks."""
    area = pg.area(pieces[0])
    small = (area < run.min_area) | (pieces[1] < 3)
    run.dropped += int(small.sum())
    run.dropped_area += float(area[small].sum())
    keep = ~small[rows]
    for start in range(0, len(rows), block):
        part = slice(start, start + block)
        r, u = rows[part], units[part]
        s = pg.values(pieces[0][r], lines[parent[r], u])
        keep[part] &= pg.crossing(s, run.tol)
    renumber = np.cumsum(~small) - 1
    return pg.take(pieces, ~small), parent[~small], renumber[rows[keep]], units[keep]


def _record(run: _Run, batch: pg.Batch, maps: np.ndarray, codes: list[np.ndarray]) -> None:
    """Keep the final regions ``batch`` with their ``codes``, and their decision boundary
    (the logits on them: ``maps`` (P, 3, n_L) through the head)."""
    if not run.geometry:
        return
    w, b = run.chain.head
    logits = maps @ w.T
    logits[:, 0] += b
    run.regions.append(batch)
    run.codes.append(codes)
    run.decision.append(decision_segments(batch, logits, run.tol))


def _collect(run: _Run, lo: float, hi: float, seconds: float) -> PlanePartition:
    """The :class:`PlanePartition` of a finished run."""
    verts = [np.zeros((0, 2))] + [v[pg.valid_slots(c, v.shape[1])] for v, c in run.regions]
    counts = np.concatenate([np.zeros(0, dtype=int)] + [c for _, c in run.regions])
    empty = [np.zeros((0, -(-n // 8)), dtype=np.uint8) for n in run.chain.widths]
    flat = [np.zeros((0, 2, 2))]
    return PlanePartition(
        lo=lo,
        hi=hi,
        widths=run.chain.widths,
        vertices=np.concatenate(verts),
        offsets=np.concatenate([[0], np.cumsum(counts)]),
        codes=[np.concatenate([e] + [c[i] for c in run.codes]) for i, e in enumerate(empty)],
        segments=[np.concatenate(flat + s) for s in run.segments],
        segment_units=[np.concatenate([np.zeros(0, dtype=int)] + u) for u in run.units],
        decision=np.concatenate(flat + [d[0] for d in run.decision]),
        decision_classes=np.concatenate([np.zeros((0, 2), int)] + [d[1] for d in run.decision]),
        regions_per_layer=list(run.counts),
        dropped=run.dropped,
        dropped_area=run.dropped_area,
        seconds=seconds,
    )
