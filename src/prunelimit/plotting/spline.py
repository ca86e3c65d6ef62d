"""Figures of the spline early-bird stage and the linear-region allocation (the partition
figure is :mod:`prunelimit.plotting.partition`, importable from here too).

Inputs are the workflow's results already loaded: ``eb.json`` dicts, distance matrices (numpy),
``eb_limit.json`` dicts and the concatenated ``regions.csv`` tables. Kept ratios in percent.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from prunelimit.plotting import log_axis, mean_sd, note, plane, plural, setup_style, tight_layout
from prunelimit.plotting.limits import curve_panels, curve_rows
from prunelimit.plotting.partition import partition as partition  # the figure's old home
from prunelimit.regions.bound import ALLOCATIONS, log_region_bound

ALLOC_COLORS = {"bound": "C2", "uniform": "C0", "global": "C3"}
ALLOC_MARKERS = {"bound": "o", "uniform": "s", "global": "^"}


def early_bird(
    name: str, ebs: list[dict], matrices: list[np.ndarray], threshold: float, window: int
) -> plt.Figure:
    """Per seed, the epoch-by-epoch distance heat map (``sns.heatmap``, epoch 0 at the bottom
    left) with the early-bird epoch marked (white dashed lines); below, the largest distance to
    the last ``window`` epochs against the epoch with the threshold and the detections. A run no
    longer than the window has no such distance: the panel says so (and an early bird never
    found is named in the titles)."""
    setup_style()
    n = len(ebs)
    fig = plt.figure(figsize=(4.2 * n + 1, 7.5))
    gs = fig.add_gridspec(2, n, height_ratios=[1.25, 1])
    vmax = max(float(m.max()) for m in matrices) or 1.0  # all-zero distances: a 0..1 scale
    for i, (eb, dist) in enumerate(zip(ebs, matrices, strict=True)):
        _distance_map(fig.add_subplot(gs[0, i]), eb, dist, vmax)
    _window_distances(fig.add_subplot(gs[1, :]), ebs, threshold, window)
    fig.suptitle(
        f"{name}: spline early-bird detection ({ebs[0]['grid']}x{ebs[0]['grid']} input grid)"
    )
    tight_layout(fig)
    return fig


def _distance_map(ax: plt.Axes, eb: dict, dist: np.ndarray, vmax: float) -> None:
    """One seed's epoch-by-epoch distances ``dist`` on a 0..``vmax`` scale (epoch 0 at the
    bottom left, ticks at epochs) with its early-bird epoch marked."""
    epochs = eb["epochs"]
    sns.heatmap(
        dist,
        ax=ax,
        cmap="magma",
        vmin=0,
        vmax=vmax,
        square=True,
        xticklabels=False,
        yticklabels=False,
        rasterized=True,  # one image in the PDF, not a vector cell per epoch pair
        cbar_kws={"shrink": 0.8, "label": "normalised Hamming distance"},
    )
    ax.invert_yaxis()  # epoch 0 at the bottom left
    ax.grid(False)
    # cell k spans [k, k + 1]: epoch e sits at its index + 0.5
    ticks = [t for t in MaxNLocator(6, integer=True).tick_values(epochs[0], epochs[-1])
             if epochs[0] <= t <= epochs[-1]]  # fmt: skip
    where = np.interp(ticks, epochs, np.arange(len(epochs))) + 0.5
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(where, [f"{t:g}" for t in ticks])
    ax.tick_params(axis="y", labelrotation=0)
    e = eb["detected_epoch"]
    if e is not None:
        at = float(np.interp(e, epochs, np.arange(len(epochs)))) + 0.5
        ax.axvline(at, color="w", ls="--", lw=1)
        ax.axhline(at, color="w", ls="--", lw=1)
        ax.plot([at], [at], "o", mfc="none", mec="w", ms=9)
    found = f"at epoch {e}" if e is not None else f"not found in {plural(epochs[-1], 'epoch')}"
    ax.set_title(f"seed {eb['seed']}: early bird {found}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("epoch")


def _window_distances(ax: plt.Axes, ebs: list[dict], threshold: float, window: int) -> None:
    """Every seed's largest distance to the last ``window`` epochs against the epoch (from
    epoch 1), its early-bird epoch (dashed) and the ``threshold`` (dotted)."""
    xs, ys = [], []
    for i, eb in enumerate(ebs):
        x = np.asarray(eb["epochs"], dtype=float)
        y = np.asarray([np.nan if v is None else v for v in eb["window_max"]], dtype=float)
        ax.plot(x[1:], y[1:], color=f"C{i}", lw=1.2, label=f"seed {eb['seed']}")
        if eb["detected_epoch"] is not None:
            ax.axvline(eb["detected_epoch"], color=f"C{i}", ls="--", lw=1)
        drawn = np.isfinite(y) & (x > 0)
        if not drawn.any():
            note(
                ax,
                f"seed {eb['seed']}: {plural(int(x[-1]), 'epoch')}, shorter than the window "
                f"of {window}: no window distance",
            )
        xs.append(x[drawn])
        ys.append(y[drawn])
    ax.axhline(threshold, color="k", ls=":", lw=1, label=f"threshold {threshold}")
    if any(len(x) for x in xs):
        if log_axis(ax, "x", np.concatenate(xs), "epoch"):
            ax.xaxis.set_major_formatter(ScalarFormatter())
        log_axis(ax, "y", np.concatenate(ys), "window-distance")
    else:  # linear axes over the epochs run: nothing but the threshold to draw
        ax.set_xlim(0, max(max(eb["epochs"]) for eb in ebs) or 1)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"max distance to the last {window} epochs")
    ax.legend(fontsize=8)


def eb_limit(name: str, limits: list[dict]) -> plt.Figure:
    """One-shot pruning curves (excess training loss / eps, test accuracy) of the l1 network at
    the early-bird epoch and at the end of training, all seeds, with the theoretical (solid)
    and actual loss-criterion (dashed) limits, means over seeds."""
    setup_style()
    rows = []
    marks: dict[str, dict[str, list[float]]] = {}
    missing = []
    for lim in limits:
        if not lim.get("eb"):
            epochs = (lim.get("final") or {}).get("epoch")
            where = f" in {plural(epochs, 'epoch')}" if epochs is not None else ""
            missing.append(f"seed {lim['seed']}: early bird not found{where}")
        for stage in ("eb", "final"):
            res = lim.get(stage)
            if not res:
                continue
            label = "early bird" if stage == "eb" else "final"
            rows += curve_rows(res["actual"], stage=label, seed=lim["seed"])
            m = marks.setdefault(label, {"th": [], "loss": [], "epoch": []})
            m["th"].append(100 * res["rho_th"])
            m["loss"].append(100 * res["rho_loss"])
            m["epoch"].append(res["epoch"])
    palette = {"early bird": "C1", "final": "C0"}
    fig, axes = curve_panels(
        pd.DataFrame(rows), "stage", palette, figsize=(11, 4.2), legend_panel=1
    )
    for ax in axes:
        for label, m in marks.items():
            ax.axvline(np.mean(m["th"]), color=palette[label], lw=1.5)
            ax.axvline(np.mean(m["loss"]), color=palette[label], lw=1.2, ls="--")
    for text in missing:
        note(axes[0], text)
    text = "; ".join(
        f"{label} (epoch {', '.join(map(str, m['epoch']))}): theory "
        f"{np.mean(m['th']):.1f} %, actual {np.mean(m['loss']):.1f} %"
        for label, m in marks.items()
    )
    fig.suptitle(f"{name}: one-shot pruning at the early-bird epoch and at the end\n{text}")
    tight_layout(fig)
    return fig


def regions(name: str, df: pd.DataFrame) -> plt.Figure:
    """Left: log10 of the region bound against the global density of the hidden weights for
    the three allocations (line: uniform on a fine grid). Second: test accuracy after the
    masked fine-tuning (solid) and before it (dotted), mean +- std over seeds. Third: the
    realised density of each hidden layer per allocation (mean over seeds). Right: the linear
    regions on the early-bird stage's input plane (counted exactly: ``regions.csv``'s
    ``regions`` columns; its ``grid_regions`` are not drawn), after (solid) and before (dotted) the
    fine-tuning. Means and error bars: seaborn's ``lineplot`` over the seeds' rows."""
    setup_style()
    dims = [int(v) for v in str(df["dims"].iloc[0]).split("-")]
    n0, widths = dims[0], dims[1:]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.3))
    ln10 = math.log(10)
    fine = np.geomspace(min(df["rho"].min(), 1e-3), 1.0, 60)
    axes[0].plot(
        100 * fine,
        [log_region_bound(n0, widths, [r] * len(widths)) / ln10 for r in fine],
        color=ALLOC_COLORS["uniform"],
        lw=1,
        alpha=0.6,
    )
    layer_cols = sorted(c for c in df.columns if c.startswith("density_"))
    densities = []
    data = df.assign(rho=100 * df["rho"], log10_bound=df["log_bound"] / ln10)
    for alloc in ALLOCATIONS:  # means (and std bars) over seeds per density: seaborn
        sub = data[data["allocation"] == alloc]
        if not sub.empty:
            densities += _allocation(axes, sub, alloc, layer_cols)
    _region_axes(axes, df, densities)
    epochs = int(df["finetune_epochs"].iloc[0])
    fig.suptitle(
        f"{name} ({'-'.join(map(str, dims))}): region-bound allocation vs uniform and global "
        f"magnitude; {plural(df['seed'].nunique(), 'seed')}, {plural(epochs, 'fine-tuning epoch')}"
    )
    tight_layout(fig)
    return fig


def _allocation(axes, sub: pd.DataFrame, alloc: str, layer_cols: list[str]) -> list:
    """The rows ``sub`` of allocation ``alloc`` (kept ratios in %) on the four panels of
    :func:`regions`, means over seeds; returns the layer densities drawn (one array a line)."""
    color = {alloc: ALLOC_COLORS[alloc]}
    mean_sd(axes[0], sub, "rho", "log10_bound", "allocation", color, {alloc: alloc},
            errorbar=None, ls="none", marker=ALLOC_MARKERS[alloc],
            ms=9 if alloc == "bound" else 6, mfc="none" if alloc == "bound" else color[alloc],
            mec=color[alloc])  # fmt: skip
    mean_sd(axes[1], sub, "rho", "test_acc", "allocation", color,
            {alloc: f"{alloc} (fine-tuned)"}, bars=True, marker="o", mec=color[alloc],
            err_kws={"capsize": 3})  # fmt: skip
    mean_sd(axes[1], sub, "rho", "oneshot_test_acc", "allocation", color,
            {alloc: f"{alloc} (no fine-tuning)"}, bars=True, marker=".", ls=":", alpha=0.7,
            mec=color[alloc], err_kws={"capsize": 2})  # fmt: skip
    densities = []
    for j, col in enumerate(layer_cols):
        lines = mean_sd(axes[2], sub.assign(_d=100 * sub[col]), "rho", "_d", "allocation",
                        color, {alloc: f"{alloc}, layer {j + 1}"}, errorbar=None,
                        marker="osd^v"[j % 5], mec=color[alloc], lw=1)  # fmt: skip
        densities += [line.get_ydata() for line in lines]
    counted = sub.dropna(subset=["regions"]) if "regions" in sub else sub.iloc[:0]
    if len(counted):  # NaN: a partition above the region cap (partition.exact.try_exact)
        mean_sd(axes[3], counted, "rho", "regions", "allocation", color,
                {alloc: f"{alloc} (fine-tuned)"}, bars=True, marker="o", mec=color[alloc],
                err_kws={"capsize": 3})  # fmt: skip
    counted = sub.dropna(subset=["oneshot_regions"]) if "regions" in sub else sub.iloc[:0]
    if len(counted):
        mean_sd(axes[3], counted, "rho", "oneshot_regions", "allocation", color,
                {alloc: f"{alloc} (no fine-tuning)"}, bars=True, marker=".", ls=":",
                alpha=0.7, mec=color[alloc], err_kws={"capsize": 2})  # fmt: skip
    return densities


def _region_axes(axes, df: pd.DataFrame, densities: list) -> None:
    """The labels, log axes and legends of :func:`regions`'s panels (``densities``: the layer
    densities drawn, for the third panel's axis)."""
    if "regions" in df and df["regions"].notna().any():
        log_axis(axes[3], "y", df["regions"].dropna(), "region-count")
        axes[3].legend(fontsize=7)
    elif "regions" in df:
        note(axes[3], "no exact counts: every partition has more regions than the cap")
    else:
        note(axes[3], "no region counts in regions.csv (written before they were counted)")
    axes[3].set_ylabel("linear regions on the input plane (exact)")
    axes[0].set_ylabel("log10 region bound")
    axes[1].set_ylabel("test accuracy")
    axes[2].set_ylabel("layer density (%)")
    log_axis(axes[2], "y", np.concatenate([[], *densities]), "layer-density")
    for ax in axes:
        log_axis(ax, "x", 100 * df["rho"], "density")
        ax.set_xlabel("global density of the hidden weights (%)")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=6, ncol=len(ALLOCATIONS))


def snapshot_epochs(epochs: list[int], eb_epoch: int | None, count: int = 5) -> list[int]:
    """Up to ``count`` recorded epochs to draw, in order: the initialisation, the first
    epochs (where the partition moves most), the early-bird epoch and the last."""
    if not epochs:
        return []
    picks = [epochs[0], *epochs[1:3], epochs[len(epochs) // 2], epochs[-1]]
    if eb_epoch is not None and eb_epoch in epochs:
        picks[-2] = eb_epoch  # the early bird replaces the middle
    return sorted(set(picks))[:count]


def trajectory(name: str, ebs: list[dict], arrays: list[dict[str, np.ndarray]]) -> plt.Figure:
    """Spline trajectories during training (You et al., Fig. 4): for the first seed
    (``arrays``: its ``trajectory.npz``), each ReLU layer's boundaries on the input plane at a
    few epochs (:func:`snapshot_epochs`); below, for every seed, the number of regions on the
    grid and the fraction of grid points whose boundary flag changed since the previous epoch,
    with the early-bird epochs (dashed)."""
    setup_style()
    first = arrays[0] if arrays else {"epochs": np.zeros(0, dtype=int)}
    epochs = [int(e) for e in first["epochs"]]
    eb_epoch = ebs[0]["detected_epoch"] if ebs else None
    shown = snapshot_epochs(epochs, eb_epoch)
    cols = max(len(shown), 2)
    fig = plt.figure(figsize=(3.0 * cols, 6.6))
    gs = fig.add_gridspec(2, cols, height_ratios=[1, 0.9])
    if not shown:
        ax = fig.add_subplot(gs[0, :])
        ax.axis("off")
        note(ax, "no partition trajectory recorded (a watch file from before trajectories)")
    else:
        _snapshots(fig, gs, first, shown, eb_epoch)
    lower = [fig.add_subplot(gs[1, : cols // 2]), fig.add_subplot(gs[1, cols // 2 :])]
    _trajectory_curves(lower, ebs, arrays)
    grid = ebs[0]["grid"] if ebs else "?"
    fig.suptitle(
        f"{name}: the input-space partition during l1 training ({grid}x{grid} grid, "
        f"seed {ebs[0]['seed'] if ebs else '?'} above)"
    )
    tight_layout(fig)
    return fig


def _snapshots(fig: plt.Figure, gs, first: dict, shown: list[int], eb_epoch: int | None) -> None:
    """The layers' boundaries of ``first`` (a ``trajectory.npz``) at the epochs ``shown``, one
    panel each along the top row of ``gs``, with the layers' legend on the first."""
    epochs = [int(e) for e in first["epochs"]]
    extent = plane.grid_extent(first["coef"])
    layers = first["layer_boundaries"].shape[1]
    for i, e in enumerate(shown):
        ax = fig.add_subplot(gs[0, i])
        k = epochs.index(e)
        plane.draw_layers(ax, first["layer_boundaries"][k], extent)
        ax.set_xlim(extent[:2])
        ax.set_ylim(extent[2:])
        plane.signal_ticks(ax)
        tag = " (early bird)" if e == eb_epoch else (" (init)" if e == 0 else "")
        ax.set_title(f"epoch {e}{tag}\n{first['regions'][k]} regions", fontsize=9)
    fig.axes[0].legend(handles=plane.layer_handles(layers), fontsize=7, loc="upper right")


def _trajectory_curves(lower: list[plt.Axes], ebs: list[dict], arrays: list[dict]) -> None:
    """Per seed the regions on the grid (``lower[0]``) and the fraction of boundary points
    moved since the previous epoch (``lower[1]``, from epoch 1), with its early-bird epoch."""
    for j, (eb, arr) in enumerate(zip(ebs, arrays, strict=False)):
        x = np.asarray(arr["epochs"], dtype=float)
        lower[0].plot(x, arr["regions"], color=f"C{j}", lw=1.2, label=f"seed {eb['seed']}")
        lower[1].plot(x[1:], arr["moved"][1:], color=f"C{j}", lw=1.2, label=f"seed {eb['seed']}")
        for ax in lower:
            if eb["detected_epoch"] is not None:
                ax.axvline(eb["detected_epoch"], color=f"C{j}", ls="--", lw=1)
    lower[0].set_ylabel("regions on the grid")
    lower[1].set_ylabel("boundary points moved since last epoch")
    for ax in lower:
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
