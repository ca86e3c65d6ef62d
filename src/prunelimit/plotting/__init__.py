"""Figures (seaborn on matplotlib, headless). One module per topic; ``save_figure`` writes
them all.

:func:`setup_style` sets seaborn's theme (whitegrid, "paper" context, colorblind palette) and
:func:`palette` gives seaborn's palettes. The builders let seaborn aggregate per-seed and
per-draw rows (``sns.lineplot(..., errorbar="sd")``: mean +- standard deviation as error bars
or bands) and draw heat maps (``sns.heatmap``); matplotlib does the rest: log axes
(:func:`log_axis`, plain log tick labels), reference lines, annotations and :func:`note`.
Importing seaborn (which imports ``scipy.stats``) adds about a second to a figure job.
"""

from __future__ import annotations

import os
import textwrap
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import LogFormatter, LogFormatterSciNotation  # noqa: E402

from prunelimit.io import atomic_path  # noqa: E402
from prunelimit.tables import plural  # noqa: E402

THEME = {"style": "whitegrid", "context": "paper", "font_scale": 1.1, "palette": "colorblind"}


def setup_style() -> None:
    """seaborn's theme for every figure: whitegrid style, "paper" context at font scale 1.1,
    the colorblind palette as the colour cycle (matplotlib's one-letter colours left as they
    are)."""
    sns.set_theme(**THEME, color_codes=False)


def palette(name: str, n: int) -> list:
    """``n`` colours of seaborn's palette ``name``: ``colorblind`` (cycled) or a matplotlib
    colormap sampled evenly without its two ends (e.g. ``viridis``)."""
    return list(sns.color_palette(name, int(n)))


def mean_sd(
    ax: plt.Axes,
    data: pd.DataFrame,
    x: str,
    y: str,
    hue: str,
    colours: dict,
    labels: dict | None = None,
    *,
    bars: bool = False,
    errorbar: str | None = "sd",
    err_kws: dict | None = None,
    **kws,
) -> list:
    """``sns.lineplot`` of ``data``'s rows on ``ax``: per level of ``hue`` (``colours``: level
    -> colour, in drawing order; levels without rows are skipped) the mean of ``y`` per ``x``
    with its standard deviation over the rows (``errorbar``: seaborn's, ``None`` for the means
    alone) as a band, or as error bars when ``bars``. ``labels``: level -> legend label (None
    or missing: no legend entry); ``kws``: to the lines (``marker``, ``ls``, ...). The axis
    labels are left as they were (the builders set their own).

    Returns one artist per level drawn: its mean line, or with ``bars`` its ``ErrorbarContainer``
    whose data line takes the mean line's style and replaces it (so the legend shows line and
    bars, as ``ax.errorbar`` draws them)."""
    levels = [h for h in colours if (data[hue] == h).any()]
    if not levels:
        return []
    names = [f"level {i}" for i in range(len(levels))]  # categorical hue whatever its dtype
    data = data.assign(_hue=data[hue].map(dict(zip(levels, names, strict=True))))
    xlabel, ylabel = ax.get_xlabel(), ax.get_ylabel()
    n_lines, n_containers = len(ax.lines), len(ax.containers)
    with warnings.catch_warnings():  # seaborn hands matplotlib 1-element Series at one x
        warnings.filterwarnings("ignore", "Calling float on a single element", FutureWarning)
        sns.lineplot(
            data=data,
            x=x,
            y=y,
            hue="_hue",
            hue_order=names,
            palette={n: colours[h] for n, h in zip(names, levels, strict=True)},
            estimator="mean",
            errorbar=errorbar,
            err_style="bars" if bars else "band",
            err_kws=err_kws,
            legend=False,
            ax=ax,
            **kws,
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    labels = labels or {}
    if not (bars and errorbar):
        drawn = ax.lines[n_lines:]
        for line, h in zip(drawn, levels, strict=True):
            line.set_label(labels.get(h))
        return drawn
    return _error_bars(ax, n_lines, n_containers, levels, labels)


def _error_bars(ax: plt.Axes, n_lines: int, n_containers: int, levels: list, labels: dict):
    """The ``ErrorbarContainer`` per level that seaborn added to ``ax`` (those after the first
    ``n_containers``), each labelled by ``labels`` and with its data line styled as the level's
    mean line (one of the lines after the first ``n_lines``), which it replaces."""
    containers = ax.containers[n_containers:]
    parts = {id(a) for c in containers for a in c.get_children()}
    means = [line for line in ax.lines[n_lines:] if id(line) not in parts]
    for c, line, h in zip(containers, means, levels, strict=True):
        c.lines[0].update_from(line)
        c.lines[0].set_label("_nolegend_")
        c.set_label(labels.get(h))
        line.remove()
    return containers


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
