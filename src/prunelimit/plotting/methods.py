"""The methods figure: every compared pruning method's test accuracy against the percent of
remaining weights (one experiment, mean and sd over the seeds used), the dense start as a line.

Input: the record tables of :mod:`prunelimit.tables.methods` (iterative methods drawn in the
global scope; seeds marked ``excluded`` left out). Each label carries the method's budget.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from prunelimit.plotting import log_axis, note, palette, setup_style, tight_layout
from prunelimit.plotting.sap import percent_axis
from prunelimit.tables.methods import budget_text, dense_rows, excluded


def _label(title: str, sub: pd.DataFrame) -> str:
    budget = budget_text(sub.iloc[-1]) if "start" in sub else ""
    return f"{title}: {budget}" if budget else title


def plot_methods(
    df: pd.DataFrame, iterative: list[str], titles: dict[str, str], title: str = ""
) -> plt.Figure:
    """Test accuracy (%) against remaining weights (log x, pruning goes right), one line per
    method (``titles``: name -> label), the dense start's mean as a horizontal line."""
    setup_style()
    df = df[(df["scope"] == "global") | ~df["method"].isin(iterative)]
    df = df[~excluded(df).astype(bool)]
    methods = list(dict.fromkeys(df["method"]))
    colors = dict(zip(methods, palette("colorblind", len(methods)), strict=True))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    dense = dense_rows(df, iterative)
    if not dense.empty:
        ax.axhline(100 * dense["test_acc"].mean(), color="0.3", ls="--", lw=1.1,
                   label=_label("dense start", dense))  # fmt: skip
    pruned = df[~(df["method"].isin(iterative) & (df["iteration"] == 0))]  # not the dense start
    for method in methods:
        sub = pruned[pruned["method"] == method]
        if sub.empty:
            continue
        agg = sub.groupby("iteration")[["percent", "test_acc"]].agg(["mean", "std"]).sort_index()
        ax.errorbar(agg[("percent", "mean")], 100 * agg[("test_acc", "mean")],
                    yerr=100 * agg[("test_acc", "std")].fillna(0), color=colors[method],
                    marker="o", ms=3.5, capsize=2, lw=1.4,
                    label=_label(titles.get(method, method), sub))  # fmt: skip
    if log_axis(ax, "x", df["percent"], "remaining-percent"):
        percent_axis(ax.xaxis)
    ax.invert_xaxis()
    ax.set_xlabel("remaining weights (%)")
    ax.set_ylabel("test accuracy (%)")
    if df["seed"].nunique() == 1:
        note(ax, "1 seed: no error bars over seeds")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    if title:
        ax.set_title(title)
    tight_layout(fig)
    return fig
