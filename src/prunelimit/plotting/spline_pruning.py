"""The node-pruning figure of the spline stage (You et al., Figs. 6-15 in kind): test accuracy
of every node method and scope against (a) the kept node fraction and (b) the training FLOPs,
and (c) the measured training speed-up of the pruned network made smaller against the kept node
fraction (the paper's Figs. 2-3, middle: "the more nodes we prune, the faster is the training"),
one experiment, mean and sd over seeds; the unpruned network retrained as long as the pruned
ones is the reference (a dotted line; a star in (b); speed-up 1 in (c)).

Input: the record tables of :mod:`prunelimit.tables.spline_pruning`. Colours name the method,
the line style the scope (solid layer-wise, dashed global).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from prunelimit.plotting import log_axis, note, palette, setup_style, tight_layout

SCOPE_STYLE = {"layer": "-", "global": "--"}


def _aggregate(sub: pd.DataFrame) -> pd.DataFrame:
    """Per kept target (largest first): mean kept node %, mean training FLOPs, accuracy % mean
    and sd over the seeds (0 for one seed), mean measured speed-up (NaN where not measured)."""
    speed = sub["train_speedup"] if "train_speedup" in sub else float("nan")
    agg = (
        sub.assign(speed=speed)
        .groupby("kept_target")
        .agg(
            nodes=("node_fraction", "mean"),
            flops=("train_flops", "mean"),
            acc=("test_acc", "mean"),
            sd=("test_acc", "std"),
            speed=("speed", "mean"),
        )
    )
    agg = agg.sort_index(ascending=False)
    return agg.assign(nodes=100 * agg["nodes"], acc=100 * agg["acc"], sd=100 * agg["sd"].fillna(0))


def _reference(axes, ref: pd.DataFrame) -> None:
    """The unpruned run: a dotted line at its accuracy in (a) and (b), a star at its FLOPs in
    (b), and a dotted line at speed-up 1 in (c)."""
    acc = 100 * ref["test_acc"].mean()
    label = f"unpruned, retrained as long ({acc:.1f} %)"
    for ax in axes[:2]:
        ax.axhline(acc, color="0.3", ls=":", lw=1.1, label=label)
    axes[1].plot(ref["train_flops"].mean(), acc, marker="*", ms=11, color="0.3", ls="none")
    axes[2].axhline(1.0, color="0.3", ls=":", lw=1.1)


def plot_spline_pruning(
    df: pd.DataFrame, titles: dict[str, str] | None = None, title: str = ""
) -> plt.Figure:
    """Three panels (module docstring): (a) test accuracy (%) against kept nodes (%, pruning
    goes right), (b) against training FLOPs (log x), (c) the measured training speed-up against
    kept nodes. ``titles``: method -> label."""
    setup_style()
    titles = titles or {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    axes[1].sharey(axes[0])
    ref = df[df["method"] == "unpruned"]
    pruned = df[df["method"] != "unpruned"]
    methods = list(dict.fromkeys(pruned["method"]))
    colours = dict(zip(methods, palette("colorblind", max(1, len(methods))), strict=False))
    if not ref.empty:
        _reference(axes, ref)
    for (method, scope), sub in pruned.groupby(["method", "scope"], sort=False):
        agg = _aggregate(sub)
        style = {"color": colours[method], "ls": SCOPE_STYLE.get(scope, "-."), "marker": "o",
                 "ms": 3.5, "capsize": 2, "lw": 1.4}  # fmt: skip
        label = f"{titles.get(method, method)}, {scope}"
        axes[0].errorbar(agg["nodes"], agg["acc"], yerr=agg["sd"], label=label, **style)
        axes[1].errorbar(agg["flops"], agg["acc"], yerr=agg["sd"], **style)
        axes[2].errorbar(agg["nodes"], agg["speed"], **style)
    axes[0].invert_xaxis()
    axes[0].set_xlabel("kept nodes (%)")
    axes[0].set_ylabel("test accuracy (%)")
    log_axis(axes[1], "x", df["train_flops"], "training-FLOPs")
    axes[1].set_xlabel("training FLOPs (dense to the early bird + pruned retraining)")
    _speed_axis(axes[2], pruned)
    for ax, tag in zip(axes, "abc", strict=True):
        ax.set_title(f"({tag})", loc="left", fontsize=10)
    if pruned.empty:
        note(axes[0], "no pruned runs")
    if df["seed"].nunique() == 1:
        note(axes[0], "1 seed: no error bars over seeds")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    if title:
        fig.suptitle(title)
    tight_layout(fig, rect=(0, 0.04 + 0.035 * ((len(labels) + 2) // 3), 1, 1))
    return fig


def _speed_axis(ax: plt.Axes, pruned: pd.DataFrame) -> None:
    """Panel (c)'s axes, and a note where no run measured its speed."""
    ax.invert_xaxis()
    ax.set_xlabel("kept nodes (%)")
    ax.set_ylabel("training step speed-up, measured (x)")
    if "train_speedup" not in pruned or pruned["train_speedup"].isna().all():
        note(ax, "training speed not measured in these records")
