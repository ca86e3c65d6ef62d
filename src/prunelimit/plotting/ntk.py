"""Figures of the NTK of randomly pruned networks (inputs: the DataFrames of ``prunelimit.ntk``).

Every function takes the tidy DataFrame(s) of :func:`prunelimit.ntk.sweep.ntk_sweep` or
:func:`prunelimit.ntk.sweep.gram_distances` and returns the matplotlib Figure (write it with
:func:`prunelimit.plotting.save_figure`); error bars are mean +- standard deviation over draws,
aggregated and drawn by seaborn's ``lineplot`` (``errorbar="sd"``, ``err_style="bars"``) over the
per-draw rows (a bar's lower end below 0 is clipped by a log axis); widths are on a log2 axis.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prunelimit.ntk.width import width_needed, width_needed_fit
from prunelimit.plotting import log_axis, mean_sd, note, palette, setup_style, tight_layout

PANELS = ((False, "pruned, no rescaling"), (True, "pruned + rescaled by $1/\\sqrt{1-p}$"))


def _palette(ps: list[float]) -> dict[float, tuple]:
    colours = palette("viridis", max(len(ps), 2))
    return dict(zip(sorted(ps), colours, strict=False))


def _depth(df: pd.DataFrame) -> float:
    """Number of pruned layers L recovered from the stored limits ((1-p)^L = limit / dense)."""
    d = df[(~df["rescaled"]) & (df["p"] > 0)]
    if d.empty:
        return math.nan
    row = d.iloc[0]
    return math.log(row["theta_limit"] / row["theta_inf"]) / math.log(1.0 - row["p"])


def _outside_legend(fig: plt.Figure, ax: plt.Axes) -> None:
    """One legend for the figure, right of the panels (kept by ``bbox_inches='tight'``)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)


def _one_draw(df: pd.DataFrame, ax: plt.Axes) -> None:
    """Note on ``ax`` that a single draw per point has no error bars."""
    if "draw" in df and df.groupby(["p", "width"])["draw"].nunique().max() == 1:
        note(ax, "1 draw per point: no error bars")


def _log2_width_axis(ax: plt.Axes, widths: list[int]) -> None:
    log_axis(ax, "x", widths, "width", base=2)
    ax.set_xticks(widths)
    ax.set_xticklabels([f"$2^{{{int(round(math.log2(w)))}}}$" for w in widths])
    ax.set_xlabel("width $n$")


def _errorbars(
    ax: plt.Axes,
    d: pd.DataFrame,
    column: str,
    colours: dict,
    ls: str = "-",
    dodge: bool = True,
    label: bool = True,
) -> list:
    """Mean +- std of ``column`` over the draws per p and width (seaborn), one error bar line
    per p labelled ``p = ...``; ``dodge``: the widths of each p shifted by a small factor so
    that the bars do not overlap on the log2 axis."""
    ps = sorted(colours)
    shift = {p: 2.0 ** (0.05 * (i - (len(ps) - 1) / 2)) if dodge else 1.0 for i, p in enumerate(ps)}
    d = d.assign(_width=d["width"] * d["p"].map(shift))
    labels = {p: f"p = {p:g}" for p in ps} if label else None
    return mean_sd(ax, d, "_width", column, "p", colours, labels, bars=True, marker="o", ms=4,
                   lw=1.4, ls=ls, err_kws={"capsize": 3})  # fmt: skip


def _drawn(bars: list) -> tuple[np.ndarray, np.ndarray]:
    """The means and the upper whisker ends (the mean where there is no whisker: one draw)
    drawn by :func:`_errorbars`."""
    means, tops = [np.zeros(0)], [np.zeros(0)]
    for c in bars:
        y = np.asarray(c.lines[0].get_ydata(), dtype=float)
        segs = (
            [
                np.asarray(seg, dtype=float).reshape(-1, 2)[:, 1]
                for seg in c.lines[2][0].get_segments()
            ]
            if c.lines[2]
            else []
        )
        top = np.array([seg.max() if seg.size else np.nan for seg in segs])
        means.append(y)
        tops.append(np.where(np.isfinite(top), top, y) if len(top) == len(y) else y)
    return np.concatenate(means), np.concatenate(tops)


def plot_ntk_value(df: pd.DataFrame) -> plt.Figure:
    """NTK value ``Theta_hat(x, y)`` against width per p; pruned | rescaled panels.

    The dense limit is the black line; in the pruned panel the dotted lines are the scaled
    limits ``(1-p)^L Theta_inf`` (log y axis there, since they span orders of magnitude).
    """
    setup_style()
    ps = sorted(df["p"].unique())
    colours = _palette(ps)
    widths = sorted(df["width"].unique())
    theta_inf = float(df["theta_inf"].iloc[0])
    depth = _depth(df)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, (rescaled, title) in zip(axes, PANELS, strict=True):
        means, _ = _drawn(_errorbars(ax, df[df["rescaled"] == rescaled], "theta", colours))
        ax.axhline(theta_inf, color="black", lw=1.2, label=f"dense limit {theta_inf:.5f}")
        if rescaled:  # whiskers of the narrowest nets may leave the axes
            ax.set_ylim(0, max(2.0 * theta_inf, 1.2 * float(np.nanmax(means, initial=0.0))))
        elif log_axis(ax, "y", means, "NTK"):
            ax.set_ylim(0.3 * float(means[means > 0].min()), 3.0 * float(means.max()))
            if not math.isnan(depth):
                for p in ps:
                    if p > 0:
                        ax.axhline((1 - p) ** depth * theta_inf, color=colours[p], ls=":", lw=1.2)
        _log2_width_axis(ax, widths)
        ax.set_title(title)
        ax.set_ylabel(r"$\hat\Theta(x, y)$")
    axes[0].plot([], [], color="grey", ls=":", label=r"$(1-p)^L\,\Theta_\infty$")
    _one_draw(df, axes[0])
    _outside_legend(fig, axes[0])
    fig.suptitle(r"Empirical NTK of randomly pruned ReLU MLPs ($\langle x,y\rangle$ fixed)")
    tight_layout(fig)
    return fig


def plot_ntk_deviation(df: pd.DataFrame, tol: float) -> plt.Figure:
    """``|Theta_hat - Theta_inf|`` (dense limit) against width per p, log-log, with the
    tolerance and an ``n^{-1/2}`` guide; pruned | rescaled panels (same y range; lower
    whiskers reaching below it are cut by the axes)."""
    setup_style()
    ps = sorted(df["p"].unique())
    colours = _palette(ps)
    widths = sorted(df["width"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    drawn = []
    for ax, (rescaled, _) in zip(axes, PANELS, strict=True):
        d = df[df["rescaled"] == rescaled]
        drawn.append(_drawn(_errorbars(ax, d, "abs_dev", colours)))
        ax.axhline(tol, color="crimson", ls="--", lw=1, label=f"tolerance {tol:g}")
        dense = d[d["p"] == min(ps)].groupby("width")["abs_dev"].mean()
        if len(dense) and dense.iloc[-1] > 0:  # anchored at the widest point of the smallest p
            w1 = float(dense.index[-1])
            ref = float(dense.iloc[-1]) * np.sqrt(w1 / np.asarray(widths, dtype=float))
            ax.plot(widths, ref, color="grey", ls=":", lw=1.2, label=r"$\propto n^{-1/2}$")
    means = np.concatenate([m for m, _ in drawn])
    positive = means[means > 0]
    low = 0.3 * min(float(positive.min()) if len(positive) else tol, tol)
    high = max(
        1.5 * float(np.nanmax(np.concatenate([t for _, t in drawn]), initial=0.0)), 1.5 * tol
    )
    for ax, (_, title), (shown, _) in zip(axes, PANELS, drawn, strict=True):
        ax.set_ylim(low if log_axis(ax, "y", shown, "deviation") else 0.0, high)
        _log2_width_axis(ax, widths)
        ax.set_title(title)
        ax.set_ylabel(r"$|\hat\Theta - \Theta_\infty|$ (mean $\pm$ std)")
    _one_draw(df, axes[0])
    _outside_legend(fig, axes[0])
    fig.suptitle("Deviation of the empirical NTK from the dense infinite-width limit")
    tight_layout(fig)
    return fig


def plot_width_needed(df: pd.DataFrame, tol: float, min_width: int = 128) -> plt.Figure:
    """Width needed for mean ``|Theta_hat - Theta_inf| <= tol`` (rescaled nets) against p.

    Filled circles: the smallest swept width that meets it (open triangles at the top: none
    does). Squares: where the power-law fit ``a n^b`` of the mean deviation over widths
    ``>= min_width`` crosses ``tol`` (open squares: extrapolated beyond the sweep). Dotted: a
    ``1/(1-p)`` guide through the fitted width at the smallest p.
    """
    setup_style()
    widths = sorted(df["width"].unique())
    wmax = max(widths)
    need = width_needed(df, tol)
    fit = width_needed_fit(df, tol, min_width=min_width).set_index("p")
    fig, ax = plt.subplots(figsize=(5.8, 4.3))
    ps = need.index.to_numpy(dtype=float)
    vals = need.to_numpy(dtype=float)
    ok = ~np.isnan(vals)
    top = 2.0 * max([wmax] + [w for w in fit["width_fit"] if np.isfinite(w)])
    _swept_widths(ax, ps, vals, ok, top, wmax)
    good = _fitted_widths(ax, fit, ps, widths, min_width)
    ax.axhline(wmax, color="grey", lw=0.6, label="largest swept width")
    shown = [wmax, *vals[ok], *good]
    log_axis(ax, "y", shown, "width", base=2)
    ax.set_ylim(min(shown) / 2, top * 1.5)
    ax.set_xlabel("pruning probability $p$")
    ax.set_ylabel("width needed")
    ax.set_title(rf"Width for mean $|\hat\Theta - \Theta_\infty| \leq$ {tol:g} (rescaled)")
    ax.legend(fontsize=7, loc="lower right")
    tight_layout(fig)
    return fig


def _swept_widths(
    ax: plt.Axes, ps: np.ndarray, vals: np.ndarray, ok: np.ndarray, top: float, wmax: int
) -> None:
    """The smallest swept width ``vals`` per p where one meets the tolerance (``ok``), and open
    triangles at ``top`` where none up to ``wmax`` does."""
    if ok.any():
        ax.plot(ps[ok], vals[ok], marker="o", color="tab:blue", label="smallest swept width")
    if (~ok).any():
        ax.scatter(
            ps[~ok],
            np.full((~ok).sum(), top),
            marker="^",
            facecolors="none",
            edgecolors="tab:blue",
            s=60,
            label=f"not reached by n = {wmax}",
        )


def _fitted_widths(ax: plt.Axes, fit: pd.DataFrame, ps: np.ndarray, widths: list, min_width: int):
    """The power-law fit's widths (``fit``: per p, ``width_fit`` and ``extrapolated``) as
    squares (open: extrapolated) on a dashed line, with a ``1/(1-p)`` guide from the smallest
    fitted p; a note where nothing was fitted. Returns the finite fitted widths (by p)."""
    f = fit["width_fit"]
    good = f[np.isfinite(f)]
    if len(good):
        ax.plot(good.index, good, color="tab:orange", ls="--", lw=1)
        ext = fit.loc[good.index, "extrapolated"].to_numpy(dtype=bool)
        for sel, filled in ((~ext, True), (ext, False)):
            if sel.any():
                ax.scatter(
                    good.index[sel],
                    good[sel],
                    marker="s",
                    facecolors="tab:orange" if filled else "none",
                    edgecolors="tab:orange",
                    label=rf"power-law fit (n $\geq$ {min_width})"
                    if filled
                    else "power-law fit, extrapolated",
                )
        p0 = float(good.index[0])
        grid = np.linspace(p0, float(max(ps)), 100)
        ax.plot(
            grid,
            float(good.iloc[0]) * (1 - p0) / (1 - grid),
            color="grey",
            ls=":",
            label=r"guide $\propto 1/(1-p)$",
        )
    else:
        fitted = [w for w in widths if w >= min_width]
        why = f"fewer than two widths >= {min_width}" if len(fitted) < 2 else "no decrease"
        note(ax, f"no power-law fit ({why})")
    return good


def plot_rescaling(df: pd.DataFrame) -> plt.Figure:
    """``Theta_hat / Theta_inf`` against p at the largest width, with and without rescaling,
    and the predicted limits ``1`` and ``(1-p)^L``."""
    setup_style()
    wmax = int(df["width"].max())
    d = df[df["width"] == wmax]
    depth = _depth(df)
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    colours = dict(zip((r for r, _ in PANELS), ("tab:orange", "tab:blue"), strict=True))
    bars = mean_sd(ax, d, "p", "ratio", "rescaled", colours, dict(PANELS), bars=True,
                   marker="o", ls="none", err_kws={"capsize": 3})  # fmt: skip
    grid = np.linspace(0, float(d["p"].max()), 100)
    ax.plot(grid, np.ones_like(grid), color="tab:blue", lw=1, ls="--", label="limit: 1")
    if not math.isnan(depth):
        ax.plot(
            grid,
            (1 - grid) ** depth,
            color="tab:orange",
            lw=1,
            ls="--",
            label=f"limit: $(1-p)^{{{depth:.0f}}}$",
        )
    log_axis(ax, "y", _drawn(bars)[0], "ratio")
    _one_draw(d, ax)
    ax.set_xlabel("pruning probability $p$")
    ax.set_ylabel(r"$\hat\Theta / \Theta_\infty$ (mean $\pm$ std)")
    ax.set_title(f"Effect of the rescaling (width {wmax})")
    ax.legend(fontsize=8)
    tight_layout(fig)
    return fig


def plot_gram_distance(gram: pd.DataFrame) -> plt.Figure:
    """Relative Frobenius distance of NTK Gram matrices on real inputs against width: pruned vs
    dense empirical (same weights), and vs the analytic dense limit; solid = rescaled."""
    setup_style()
    ps = sorted(gram["p"].unique())
    colours = _palette(ps)
    widths = sorted(gram["width"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    cols = (
        ("rel_frob_dense", r"$\|K_p - K_{dense}\|_F / \|K_{dense}\|_F$"),
        ("rel_frob_inf", r"$\|K_p - K_\infty\|_F / \|K_\infty\|_F$"),
    )
    shown = []
    for ax, (column, title) in zip(axes, cols, strict=True):
        for rescaled, ls in ((True, "-"), (False, "--")):
            d = gram[gram["rescaled"] == rescaled]
            if column == "rel_frob_dense" or not rescaled:
                d = d[d["p"] != 0]  # identically zero, or the same as rescaled
            bars = _errorbars(ax, d, column, colours, ls=ls, dodge=False, label=rescaled)
            shown.append(_drawn(bars)[0])
        _log2_width_axis(ax, widths)
        ax.set_title(title)
    log_axis(axes[0], "y", np.concatenate([[], *shown]), "distance")  # shared y
    _one_draw(gram, axes[0])
    axes[0].set_ylabel("relative Frobenius distance")
    axes[1].plot([], [], color="grey", ls="-", label="rescaled")
    axes[1].plot([], [], color="grey", ls="--", label="not rescaled")
    _outside_legend(fig, axes[1])
    n = int(gram["n_inputs"].iloc[0]) if "n_inputs" in gram else None
    fig.suptitle(f"NTK Gram matrices on {n} real inputs" if n else "NTK Gram matrices")
    tight_layout(fig)
    return fig
