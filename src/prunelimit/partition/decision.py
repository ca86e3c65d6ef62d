"""The decision boundary of a network on regions of a plane where its logits are affine.

On a convex region with affine logits ``l_k(a, b)``, the decision boundary is where two
classes ``k < c`` tie and no other class is above them: the zero line of ``l_k - l_c`` clipped
to the polygon (:func:`~prunelimit.partition.polygons.chord`), then, along it, to
``l_k - l_d >= 0`` for every other class ``d``. A region whose vertices all have the same
argmax lies in that class's (convex) cell and has no boundary.
"""

from __future__ import annotations

import numpy as np

from prunelimit.partition import polygons as pg


def mixed_regions(batch: pg.Batch, logits: np.ndarray) -> np.ndarray:
    """Indices of the polygons of ``batch`` whose vertices do not all share the argmax of the
    logits (``logits`` (P, 3, K): coefficients of 1, a, b)."""
    verts, count = batch
    vals = pg.values(verts, logits.transpose(0, 2, 1))  # (P, K, V)
    arg = vals.argmax(1)
    arg = np.where(pg.valid_slots(count, verts.shape[1]), arg, arg[:, :1])
    return np.nonzero((arg != arg[:, :1]).any(1))[0]


def decision_segments(
    batch: pg.Batch, logits: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """The decision boundary on the polygons ``batch`` with affine ``logits`` (P, 3, K):
    segments (S, 2, 2) in the plane's coordinates and the two tied classes of each (S, 2),
    pieces shorter than ``tol`` left out."""
    idx = mixed_regions(batch, logits)
    empty = np.zeros((0, 2, 2)), np.zeros((0, 2), dtype=int)
    n_classes = logits.shape[2]
    if len(idx) == 0 or n_classes < 2:
        return empty
    verts, count = pg.take(batch, idx)
    lg = logits[idx].transpose(0, 2, 1)  # (M, K, 3)
    ks, cs = np.triu_indices(n_classes, 1)
    ties = pg.normalise(lg[:, ks] - lg[:, cs])  # (M, pairs, 3)
    rows, pairs = np.nonzero(pg.crossing_many(verts, ties, tol))
    if len(rows) == 0:
        return empty
    ends = pg.chord(verts[rows], count[rows], ties[rows, pairs], tol)  # (S, 2, 2)
    k, c = ks[pairs], cs[pairs]
    gap = lg[rows, k][:, None, :] - lg[rows]  # (S, K, 3): l_k - l_d
    h = gap[..., :1] + gap[..., 1:2] * ends[:, None, :, 0] + gap[..., 2:3] * ends[:, None, :, 1]
    t_lo, t_hi = _interval(h, k, c)
    length = (t_hi - t_lo) * np.linalg.norm(ends[:, 1] - ends[:, 0], axis=1)
    keep = length > tol
    start = ends[:, 0] + t_lo[:, None] * (ends[:, 1] - ends[:, 0])
    stop = ends[:, 0] + t_hi[:, None] * (ends[:, 1] - ends[:, 0])
    return np.stack([start, stop], 1)[keep], np.stack([k, c], 1)[keep]


def _interval(h: np.ndarray, k: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The parameters ``t in [0, 1]`` along each chord where ``h_d(t) >= 0`` for every class
    ``d`` other than ``k`` and ``c`` (``h`` (S, K, 2): the values at the chord's ends; ``h``
    is affine in ``t``). An empty interval has ``t_hi <= t_lo``."""
    h0, h1 = h[..., 0], h[..., 1]
    slope = h1 - h0
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -h0 / slope
    lo = np.where(slope > 0, root, -np.inf)
    hi = np.where(slope < 0, root, np.inf)
    hi = np.where((slope == 0) & (h0 < 0), -np.inf, hi)  # a class above all along the chord
    others = np.ones(h.shape[:2], dtype=bool)
    rows = np.arange(len(h))
    others[rows, k] = others[rows, c] = False
    t_lo = np.maximum(np.where(others, lo, -np.inf).max(1), 0.0)
    t_hi = np.minimum(np.where(others, hi, np.inf).min(1), 1.0)
    return t_lo, t_hi
