"""The partition figure (You et al., TMLR 2022, Figs. 1-3): subdivision lines and decision
boundary on the input plane as weights and nodes are pruned.

Inputs: ``partition.json`` records and their ``partition.npz`` arrays
(:mod:`prunelimit.spline.partition` documents both). Per experiment one row of weight-pruning
panels and, where the network has node layers, one row of node-pruning panels. A panel with
an exact partition draws each layer's boundary segments as lines (one colour per layer, layer 1
blue and on top) and the decision boundary in red, over the argmax class (light colours);
without one (no chain of ReLUs and affine maps, too many regions, or an ``npz`` from before the
exact partition) it falls back to the grid's boundary points of the first two layers (as the
paper's Fig. 3 draws a ConvNet's), leaves out a layer whose sign changes at most grid points (a
VGG16's at every one: a solid block says nothing), and says so.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from prunelimit.plotting import note, plane, setup_style, tight_layout

ROWS = (("weights", "weights pruned (global magnitude)"), ("nodes", "nodes pruned (l2 norm)"))
LAYER_WIDTH = (0.45, 0.3)  # line width of layer 1, of deeper layers (points)
GRID_LAYERS = 2  # layers drawn from the grid where there is no exact partition
SATURATED = 0.5  # a layer changing sign at more of the grid's points is not drawn


def partition(records: list[dict], arrays: list[dict[str, np.ndarray]]) -> plt.Figure:
    """One or two rows per experiment (``records``: ``partition.json`` dicts; ``arrays``: their
    ``partition.npz``): the weight-pruning panels, then the node-pruning ones, each on the plane
    through three test signals (marked by their classes)."""
    setup_style()
    rows = _rows(records)
    cols = max(len(idx) for _, _, idx in rows)
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(3.1 * cols, 3.3 * len(rows) + 0.7), squeeze=False
    )
    layers = 0
    for ax_row, (k, kind, idx) in zip(axes, rows, strict=True):
        depth = arrays[k]["layer_boundaries"].shape[1]
        exact = "exact" in arrays[k] and bool(np.asarray(arrays[k]["exact"])[idx].any())
        layers = max(layers, depth if exact else min(depth, GRID_LAYERS))
        for j, ax in enumerate(ax_row):
            if j >= len(idx):
                ax.axis("off")
                continue
            _panel(ax, records[k], arrays[k], idx[j])
            if j == 0:
                ax.set_ylabel(f"{dict(ROWS)[kind]}\na (towards signal 1)", fontsize=9)
    handles = plane.layer_handles(layers) + [
        Line2D([], [], color=plane.DECISION_COLOR, lw=3, label="decision boundary")
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    seeds = ", ".join(sorted({f"{r['experiment']} seed {r['seed']}" for r in records}))
    fig.suptitle(
        "Input-space partition (each layer's subdivision lines) and decision boundary of the l1 "
        f"network, one-shot pruned, nothing retrained ({seeds}); regions counted exactly, "
        f"grid count ({records[0]['grid']}x{records[0]['grid']}) in brackets",
        fontsize=10,
    )
    tight_layout(fig, rect=(0, 0.04, 1, 1))
    return fig


def _rows(records: list[dict]) -> list[tuple[int, str, list[int]]]:
    """(record index, pruning kind, panel indices) of every row of the figure (points without a
    ``pruning`` field, from before node panels, are weight panels)."""
    out = []
    for k, rec in enumerate(records):
        kinds = [p.get("pruning", "weights") for p in rec["points"]]
        for kind, _ in ROWS:
            idx = [i for i, x in enumerate(kinds) if x == kind]
            if idx:
                out.append((k, kind, idx))
    return out


def panel_segments(arr: dict[str, np.ndarray], i: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Panel ``i``'s exact boundary segments per layer and its decision segments, (S, 2, 2)
    each in ``(a, b)`` (``arr``: a ``partition.npz``)."""
    layers = arr["layer_boundaries"].shape[1]

    def rows(key: str) -> np.ndarray:
        off = arr[f"{key}_offsets"]
        return arr[f"{key}_segments"][off[i] : off[i + 1]]

    return [rows(f"layer{j + 1}") for j in range(layers)], rows("decision")


def _panel(ax: plt.Axes, rec: dict, arr: dict, i: int) -> None:
    """Panel ``i`` of one experiment: the classes, the partition, the decision boundary, the
    three signals and a title with the kept share and the region counts."""
    p = rec["points"][i]
    exact = bool(arr["exact"][i]) if "exact" in arr else False
    lo, hi = float(arr["coef"][0]), float(arr["coef"][-1])
    classes = arr["backdrop"][i] if "backdrop" in arr else arr["classes"][i]
    extent = plane.grid_extent(np.linspace(lo, hi, classes.shape[0]))
    ax.imshow(classes, origin="lower", extent=extent, cmap="tab10", vmin=-0.5, vmax=9.5,
              alpha=0.18, interpolation="nearest", aspect="auto")  # fmt: skip
    if exact:
        layers, decision = panel_segments(arr, i)
        for j in reversed(range(len(layers))):  # layer 1 on top
            color = plane.LAYER_COLORS[j % len(plane.LAYER_COLORS)]
            width = LAYER_WIDTH[0] if j == 0 else LAYER_WIDTH[1]
            _lines(ax, layers[j], color, width, rasterized=True)
        _lines(ax, decision, plane.DECISION_COLOR, 1.5, rasterized=False)
    else:
        grid_extent = plane.grid_extent(arr["coef"])
        maps, left_out = grid_layers(arr["layer_boundaries"][i])
        plane.draw_layers(ax, maps, grid_extent)
        plane.overlay(ax, arr["decision"][i], plane.DECISION_COLOR, grid_extent)
        why = (p.get("exact_note") or "no exact partition in this partition.npz").split(" (")[0]
        note(ax, f"grid points, not lines, of layers 1-{len(maps)}: {why}{left_out}")
    for c, (a, b) in enumerate([(0, 0), (1, 0), (0, 1)]):  # x0, x1, x2 of the plane
        ax.plot(b, a, "o", mfc="white", mec="k", ms=9, zorder=5)
        ax.text(b, a, str(c), ha="center", va="center", fontsize=7, zorder=6)
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    plane.signal_ticks(ax)
    ax.set_title(_title(rec, p), fontsize=8.5)
    if not p["decision_fraction"]:
        note(ax, f"one class ({p['classes_on_grid'][0]}) on the whole plane")
    ax.set_xlabel("b (towards signal 2)")


def grid_layers(boundaries: np.ndarray) -> tuple[np.ndarray, str]:
    """The first :data:`GRID_LAYERS` of a panel's grid boundary maps (layers, grid, grid), those
    changing sign at more than :data:`SATURATED` of the points emptied, and the note naming them
    (empty when none is)."""
    maps = boundaries[:GRID_LAYERS].copy()
    shares = maps.reshape(len(maps), -1).mean(1)
    full = [j for j, share in enumerate(shares) if share > SATURATED]
    maps[full] = False
    said = ", ".join(f"layer {j + 1} at {100 * shares[j]:.0f} %" for j in full)
    return maps, f"; not drawn, changing sign at most points: {said}" if full else ""


def _lines(ax: plt.Axes, segments: np.ndarray, color: str, width: float, rasterized: bool) -> None:
    """``segments`` (S, 2, 2) in ``(a, b)`` drawn with ``b`` across and ``a`` up."""
    if len(segments):
        lines = LineCollection(segments[..., ::-1], colors=color, linewidths=width)
        lines.set_rasterized(rasterized)  # the PDF keeps one image of 10^5 segments
        ax.add_collection(lines)


def _title(rec: dict, p: dict) -> str:
    """A panel's title: experiment and label, the kept weights (and nodes), the region counts
    (exact, the grid's in brackets) and the test accuracy."""
    kept = f"kept {100 * p['rho']:.2f} % of weights"
    if p.get("nodes_kept") is not None:
        kept = f"kept {100 * p['nodes_kept']:.0f} % of nodes, {100 * p['rho']:.2f} % of weights"
    grid = p.get("grid_regions", p["regions"])
    if p.get("grid_regions") is None:  # a record from before the exact partition
        counts = f"{p['regions']:,} regions on the grid"
    elif p["regions"] is None:
        counts = f"? regions ({grid:,} on the grid)"
    else:
        counts = f"{p['regions']:,} regions ({grid:,})"
    return f"{rec['experiment']}, {p['label']}\n{kept}\n{counts}, test acc {p['test_acc']:.2f}"
