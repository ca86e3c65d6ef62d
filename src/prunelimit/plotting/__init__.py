"""Figures (matplotlib, headless). One module per topic; ``save_figure`` writes them all.

Plain matplotlib with a whitegrid "paper" style and seaborn's colour palettes written out, so
that figure jobs import neither seaborn nor scipy (they stay light).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import LogFormatter, LogFormatterSciNotation  # noqa: E402

from prunelimit.io import atomic_path  # noqa: E402
from prunelimit.tables import plural  # noqa: E402

# seaborn's "colorblind" palette
COLORBLIND = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc"]
COLORBLIND += ["#ca9161", "#fbafe4", "#949494", "#ece133", "#56b4e9"]

STYLE = {  # seaborn's whitegrid style at the "paper" context, font scale 1.1
    "axes.linewidth": 1.0,
    "grid.linewidth": 0.8,
    "lines.linewidth": 1.2,
    "lines.markersize": 4.8,
    "patch.linewidth": 0.8,
    "font.size": 10.56,
    "axes.labelsize": 10.56,
    "axes.titlesize": 10.56,
    "xtick.labelsize": 9.68,
    "ytick.labelsize": 9.68,
    "legend.fontsize": 9.68,
    "legend.title_fontsize": 10.56,
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.edgecolor": ".8",
    "axes.labelcolor": ".15",
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": ".8",
    "grid.linestyle": "-",
    "text.color": ".15",
    "xtick.color": ".15",
    "ytick.color": ".15",
    "xtick.bottom": False,
    "ytick.left": False,
    "lines.solid_capstyle": "round",
    "axes.prop_cycle": plt.cycler(color=COLORBLIND),
}


def setup_style() -> None:
    plt.rcParams.update(STYLE)


def palette(name: str, n: int) -> list:
    """``n`` colours: ``colorblind`` (cycled) or a matplotlib colormap sampled as seaborn does
    (evenly, without the two ends)."""
    if name == "colorblind":
        return [COLORBLIND[i % len(COLORBLIND)] for i in range(n)]
    cmap = plt.get_cmap(name)
    return [cmap(x) for x in np.linspace(0, 1, int(n) + 2)[1:-1]]


class PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers (``100``, ``0.01``, ``1e+06``), signed on symlog axes."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        label = super().__call__(x, pos)  # the parent labels |x|
        return self.fix_minus("-" + label) if label and x < 0 else label

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


def plain_log_ticks(fig: plt.Figure) -> None:
    """Tick labels of log and symlog axes as plain numbers (``100``, ``0.01``, ``1e+04``)
    instead of mathtext powers: the same ticks, without the mathtext parser, which took about a
    quarter of a figure job's time."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for get, put in (
                (axis.get_major_formatter, axis.set_major_formatter),
                (axis.get_minor_formatter, axis.set_minor_formatter),
            ):
                old = get()
                if type(old) is LogFormatterSciNotation:
                    put(PlainLogFormatter(base=old._base, labelOnlyBase=old.labelOnlyBase))


def tight_layout(fig: plt.Figure, **kwargs) -> None:
    """``fig.tight_layout(**kwargs)`` with the final (plain) log tick labels, so the layout is
    measured on the labels that are drawn and never runs the mathtext parser."""
    plain_log_ticks(fig)
    fig.tight_layout(**kwargs)


NOTE_GID = "prunelimit-note"


def note(ax: plt.Axes, text: str) -> None:
    """Say on ``ax`` what its figure cannot show (a short or degenerate run): one grey box in
    the axes' lower left corner, a note per line (wrapped to the axes' width; repeated notes
    once). Every builder uses this for what it leaves out, so nothing is dropped silently;
    :func:`notes` reads them back."""
    box = next((t for t in ax.texts if t.get_gid() == NOTE_GID), None)
    if box is None:
        box = ax.text(
            0.02,
            0.02,
            "",
            transform=ax.transAxes,
            ha="left",
            va="bottom",
            fontsize=7,
            style="italic",
            color="0.25",
            bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.7},
            gid=NOTE_GID,
            zorder=10,
        )
        box.prunelimit_notes = []
    if text in box.prunelimit_notes:
        return
    box.prunelimit_notes.append(text)
    inches = ax.get_position().width * ax.figure.get_figwidth()
    width = max(24, int(17 * inches))  # characters of 7 pt italic per line
    box.set_text("\n".join(textwrap.fill(line, width) for line in box.prunelimit_notes))


def notes(fig: plt.Figure) -> list[str]:
    """Every note of :func:`note` on ``fig``'s axes (unwrapped)."""
    return [
        line
        for ax in fig.axes
        for t in ax.texts
        if t.get_gid() == NOTE_GID
        for line in getattr(t, "prunelimit_notes", [])
    ]


def log_axis(ax: plt.Axes, axis: str, values, what: str = "", **kwargs) -> bool:
    """The one "log axis only when the data is positive" decision: a log ``axis`` ("x" or "y")
    of ``ax`` (``kwargs``: to ``set_xscale``/``set_yscale``, e.g. ``base=2``) when some finite
    value of ``values`` (the data drawn along it) is positive, else a linear one, and a
    :func:`note` saying so; values <= 0 beside positive ones are counted in a note (a log axis
    cannot show them), and so are missing (non-finite) ones. Returns whether the axis is
    logarithmic."""
    v = np.asarray(values, dtype=float).ravel()
    label = f"{what} " if what else ""
    if (missing := int((~np.isfinite(v)).sum())) > 0:
        note(ax, f"{plural(missing, label + 'value')} missing (not finite)")
    v = v[np.isfinite(v)]
    scale = ax.set_xscale if axis == "x" else ax.set_yscale
    if not (v > 0).any():
        scale("linear")
        note(ax, f"no positive {label}values: linear {axis} axis")
        return False
    scale("log", **kwargs)
    if (bad := int((v <= 0).sum())) > 0:
        note(ax, f"{plural(bad, label + 'value')} <= 0 not shown (log {axis} axis)")
    return True


def save_figure(fig: plt.Figure, *paths: str | os.PathLike) -> list[Path]:
    """Save ``fig`` atomically to each path (format from its suffix: .pdf, .png) and close it."""
    plain_log_ticks(fig)
    out = []
    for path in map(Path, paths):
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=150, bbox_inches="tight")
        out.append(path)
    plt.close(fig)
    return out
