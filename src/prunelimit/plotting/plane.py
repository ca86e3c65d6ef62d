"""Drawing on the input plane of the spline figures (:mod:`prunelimit.plotting.spline`): each
ReLU layer's sign changes, the decision boundary and the plane's axes.

The plane is sampled on a square grid of coefficients ``coef`` (the same along both axes);
boundary maps are boolean (grid, grid) arrays, drawn with ``origin="lower"``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D

# Layer l's sign changes in LAYER_COLORS[l] (the paper: blue for the first layer, green for the
# second), the decision boundary in red, the classes as a light backdrop.
LAYER_COLORS = ["#0173b2", "#029e73", "#cc78bc", "#ca9161", "#949494"]
DECISION_COLOR = "#d62728"


def grid_extent(coef: np.ndarray) -> tuple[float, float, float, float]:
    """The ``imshow`` extent of the grid over ``coef`` (both axes), each point centred in its
    cell."""
    half = (coef[1] - coef[0]) / 2
    return (coef[0] - half, coef[-1] + half, coef[0] - half, coef[-1] + half)


def overlay(ax: plt.Axes, flags: np.ndarray, color: str, extent: tuple) -> None:
    """The grid points where ``flags`` is True, in one ``color`` (the rest transparent)."""
    ax.imshow(
        np.ma.masked_where(~flags, flags.astype(float)),
        origin="lower",
        extent=extent,
        cmap=ListedColormap([color]),
        vmin=0,
        vmax=1,
        interpolation="nearest",
        aspect="auto",
    )


def draw_layers(ax: plt.Axes, boundaries: np.ndarray, extent: tuple) -> None:
    """Each layer's sign changes (``boundaries``: layers, grid, grid) in its colour of
    :data:`LAYER_COLORS`, layer 1 on top."""
    for layer in reversed(range(boundaries.shape[0])):
        overlay(ax, boundaries[layer], LAYER_COLORS[layer % len(LAYER_COLORS)], extent)


def layer_handles(layers: int) -> list[Line2D]:
    """Legend handles of the colours of layers 1 to ``layers``."""
    return [
        Line2D([], [], color=LAYER_COLORS[j % len(LAYER_COLORS)], lw=3, label=f"layer {j + 1}")
        for j in range(layers)
    ]


def signal_ticks(ax: plt.Axes) -> None:
    """No grid lines; ticks at the coefficients 0 and 1 (the plane's signals) only."""
    ax.grid(False)
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
