"""Batches of convex polygons in a plane, cut by lines (numpy, float64, no torch).

Conventions:

- A **batch** is ``(verts, count)``: ``verts`` (N, V, 2) the vertices of N convex polygons in
  counter-clockwise or clockwise order (the order is kept by every operation), ``count`` (N,)
  how many are real; slots past ``count`` repeat the last real vertex, so the shoelace sums and
  the extents over all V slots are those of the polygon.
- A **line** is ``(c, g_1, g_2)``: the affine function ``c + g_1 u + g_2 v`` of the point
  ``(u, v)``; :func:`normalise` scales it to unit gradient, so its value is the signed distance to
  its zero line. A gradient-free line has no zero line (its values are its constant).
- **Tolerance** ``tol`` (a distance): a vertex within ``tol`` of a line is on it, and belongs to
  both sides; a line **crosses** a polygon when some vertex lies farther than ``tol`` on each
  side.
"""

from __future__ import annotations

import numpy as np

Batch = tuple[np.ndarray, np.ndarray]  # (verts (N, V, 2), count (N,))


def box(lo: float, hi: float) -> Batch:
    """The square ``[lo, hi]^2`` as a batch of one polygon (counter-clockwise)."""
    verts = np.array([[[lo, lo], [hi, lo], [hi, hi], [lo, hi]]], dtype=np.float64)
    return verts, np.array([4])


def normalise(lines: np.ndarray) -> np.ndarray:
    """``lines`` (..., 3) scaled to unit gradient (gradient-free lines left as they are)."""
    norm = np.linalg.norm(lines[..., 1:], axis=-1, keepdims=True)
    return lines / np.where(norm > 0, norm, 1.0)


def values(verts: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """The lines' values at the vertices: ``lines`` (N, 3) or (N, K, 3) give (N, V) or
    (N, K, V)."""
    if lines.ndim == 2:
        return lines[:, :1] + lines[:, 1:2] * verts[..., 0] + lines[:, 2:3] * verts[..., 1]
    u, v = verts[:, None, :, 0], verts[:, None, :, 1]
    return lines[..., :1] + lines[..., 1:2] * u + lines[..., 2:3] * v


def valid_slots(count: np.ndarray, width: int) -> np.ndarray:
    """(N, width) bool: the real vertex slots."""
    return np.arange(width) < count[:, None]


def crossing(s: np.ndarray, tol: float) -> np.ndarray:
    """Whether a line with values ``s`` (N, ..., V) at the vertices crosses each polygon (the
    padded slots repeat a real vertex, so they change no extreme)."""
    return (s.max(-1) > tol) & (s.min(-1) < -tol)


def crossing_many(verts: np.ndarray, lines: np.ndarray, tol: float) -> np.ndarray:
    """(N, K) bool: whether each of the (normalised) ``lines`` (N, K, 3) crosses its polygon
    (:func:`crossing`, the values from one batched matrix product)."""
    ones = np.ones(verts.shape[:2] + (1,))
    s = np.concatenate([ones, verts], 2) @ lines.transpose(0, 2, 1)  # (N, V, K)
    return (s.max(1) > tol) & (s.min(1) < -tol)


def _edges(verts: np.ndarray, count: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each real edge ``i -> i + 1`` (cyclic): the valid mask, the values at its far end and its
    far vertex."""
    width = verts.shape[1]
    idx = np.arange(width)
    valid = idx < count[:, None]
    nxt = np.where(idx + 1 < count[:, None], idx + 1, 0)
    return valid, np.take_along_axis(s, nxt, 1), np.take_along_axis(verts, nxt[..., None], 1)


def _crossings(verts: np.ndarray, count: np.ndarray, s: np.ndarray, tol: float):
    """The slots (N, 2V, 2) ``vertex i, crossing of edge i`` and the masks (N, V) of real
    vertices and of edges whose ends lie farther than ``tol`` on opposite sides."""
    valid, s_next, v_next = _edges(verts, count, s)
    cross = valid & (((s > tol) & (s_next < -tol)) | ((s < -tol) & (s_next > tol)))
    w = s / np.where(cross, s - s_next, 1.0)
    point = verts + w[..., None] * (v_next - verts)
    n, width = s.shape
    slots = np.stack([verts, point], 2).reshape(n, 2 * width, 2)
    return slots, valid, cross


def compact(slots: np.ndarray, keep: np.ndarray) -> Batch:
    """The kept slots (N, S, 2) of each polygon, in order, as a batch (padded with the last
    kept vertex; a polygon keeping none gets count 0 and its first slot)."""
    count = keep.sum(1)
    width = max(int(count.max(initial=0)), 1)
    order = np.argsort(~keep, axis=1, kind="stable")[:, :width]
    last = np.take_along_axis(order, np.maximum(count - 1, 0)[:, None], 1)
    order = np.where(np.arange(width) < count[:, None], order, last)
    return np.take_along_axis(slots, order[..., None], 1), count


def split(verts: np.ndarray, count: np.ndarray, lines: np.ndarray, tol: float):
    """Cut each polygon by its (normalised) line ``lines`` (N, 3): the parts where the line is
    ``>= -tol`` and ``<= tol`` (Sutherland-Hodgman on convex polygons; vertices on the line go
    to both). Returns the two batches."""
    s = values(verts, lines)
    slots, valid, cross = _crossings(verts, count, s, tol)
    pos = np.stack([valid & (s >= -tol), cross], 2).reshape(s.shape[0], 2 * s.shape[1])
    neg = np.stack([valid & (s <= tol), cross], 2).reshape(s.shape[0], 2 * s.shape[1])
    return compact(slots, pos), compact(slots, neg)


def chord(verts: np.ndarray, count: np.ndarray, lines: np.ndarray, tol: float) -> np.ndarray:
    """(N, 2, 2): the ends of each (normalised) line's zero set inside its polygon (call it
    where the line crosses the polygon): the extreme points, along the line, of the vertices
    on it and the crossings of its edges."""
    s = values(verts, lines)
    slots, valid, cross = _crossings(verts, count, s, tol)
    ok = np.stack([valid & (np.abs(s) <= tol), cross], 2).reshape(s.shape[0], 2 * s.shape[1])
    t = slots[..., 0] * -lines[:, 2:3] + slots[..., 1] * lines[:, 1:2]  # along the line
    lo = np.where(ok, t, np.inf).argmin(1)
    hi = np.where(ok, t, -np.inf).argmax(1)
    rows = np.arange(len(verts))
    return np.stack([slots[rows, lo], slots[rows, hi]], 1)


def area(verts: np.ndarray) -> np.ndarray:
    """(N,) unsigned areas (shoelace over every slot; padding adds nothing)."""
    u, v = verts[..., 0], verts[..., 1]
    return 0.5 * np.abs((u * np.roll(v, -1, 1) - np.roll(u, -1, 1) * v).sum(1))


def interior_point(verts: np.ndarray, count: np.ndarray) -> np.ndarray:
    """(N, 2): the mean of each polygon's real vertices, inside it (a convex polygon with
    positive area holds the mean of its vertices in its interior)."""
    valid = valid_slots(count, verts.shape[1])
    return (verts * valid[..., None]).sum(1) / np.maximum(count, 1)[:, None]


def concat(batches: list[Batch]) -> Batch:
    """One batch of all polygons of ``batches``, padded to the widest."""
    width = max(v.shape[1] for v, _ in batches)
    out = []
    for v, _ in batches:
        pad = np.repeat(v[:, -1:], width - v.shape[1], 1)
        out.append(np.concatenate([v, pad], 1))
    return np.concatenate(out), np.concatenate([c for _, c in batches])


def take(batch: Batch, index: np.ndarray) -> Batch:
    """The polygons ``index`` (int or bool) of ``batch``, trimmed to their widest."""
    verts, count = batch[0][index], batch[1][index]
    width = max(int(count.max(initial=0)), 1)
    return verts[:, :width], count
