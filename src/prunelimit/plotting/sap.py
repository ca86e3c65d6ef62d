"""Figures of SAP against Lottery Ticket, One Shot and LOMP (one experiment, all seeds), and
of the SAP ablations.

Input: the concatenated per-iteration records (:func:`prunelimit.sap.read_runs`), columns
``method, scope, seed, iteration, percent, test_acc, pqi_trained, pqi_pruned, kept[<layer>]``.
Means and standard deviations are over seeds, per method, scope and iteration: seaborn's
``lineplot`` (``errorbar="sd"`` bands) draws them against the iteration; the accuracy against
the remaining percent, which differs between seeds, carries error bars in x as well as y, which
seaborn does not draw, so that figure aggregates with pandas and draws ``ax.errorbar``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from prunelimit.plotting import log_axis, mean_sd, note, palette, setup_style, tight_layout
from prunelimit.tables import mean_std

METHOD_LABELS = {
    "sap": "SAP",
    "lt": "Lottery Ticket",
    "os": "One Shot",
    "lomp": "LOMP (l1, one shot, no retraining)",
}
SCOPE_LABELS = {"global": "global", "layer": "layer-wise", "neuron": "neuron-wise"}


def _colors(methods: list[str]) -> dict[str, tuple]:
    colours = palette("colorblind", len(METHOD_LABELS))
    fixed = dict(zip(METHOD_LABELS, colours, strict=True))
    return {m: fixed.get(m, "k") for m in methods}


def _ordered(values, order) -> list:
    present = list(dict.fromkeys(values))
    return [v for v in order if v in present] + [v for v in present if v not in order]


PERCENT_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 50, 70, 100)


def percent_axis(axis) -> None:
    """Log-scaled percent axis with plain labels (100, 50, 20, ...)."""
    axis.set_major_locator(FixedLocator(PERCENT_TICKS))
    axis.set_minor_locator(NullLocator())
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def _legend_below(fig: plt.Figure, axes, ncol: int) -> None:
    """One legend under the figure with every labelled artist of ``axes`` (deduplicated)."""
    found: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    fig.legend(
        list(found.values()),
        list(found),
        loc="lower center",
        ncol=ncol,
        fontsize=8,
        frameon=False,
        bbox_to_anchor=(0.5, 0.0),
    )


def _by_iteration(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return df.groupby("iteration")[columns].agg(["mean", "std"]).sort_index()


def _one_seed(df: pd.DataFrame, ax: plt.Axes, spread: str) -> None:
    """Note on ``ax`` that one seed has no spread over seeds (``spread``: what is missing)."""
    if "seed" in df and df["seed"].nunique() == 1:
        note(ax, f"1 seed: no {spread} over seeds")


def plot_accuracy(
    df: pd.DataFrame, limits: dict[str, tuple[float, float]] | None = None, title: str = ""
) -> plt.Figure:
    """Test accuracy (%) against the percent of remaining weights (log x, pruning goes right),
    one panel per scope, mean +- std over seeds. ``limits``: label -> (mean, std) of the LOMP
    kept ratio in percent, drawn as vertical lines with a band."""
    setup_style()
    scopes = _ordered(df["scope"], list(SCOPE_LABELS))
    methods = _ordered(df["method"], list(METHOD_LABELS))
    colors = _colors(methods)
    fig, axes = plt.subplots(
        1, len(scopes), figsize=(4.2 * len(scopes), 3.6), sharey=True, squeeze=False
    )
    for ax, scope in zip(axes[0], scopes, strict=True):
        for method in methods:
            sub = df[(df["scope"] == scope) & (df["method"] == method)]
            if sub.empty:
                continue
            agg = _by_iteration(sub, ["percent", "test_acc"])
            ax.errorbar(
                agg[("percent", "mean")],
                100 * agg[("test_acc", "mean")],
                xerr=agg[("percent", "std")].fillna(0),
                yerr=100 * agg[("test_acc", "std")].fillna(0),
                color=colors[method],
                marker="o",
                ms=3.5,
                capsize=2,
                lw=1.4,
                label=METHOD_LABELS.get(method, method),
            )
        for (label, (mean, std)), style in zip(
            (limits or {}).items(), ("--", ":", "-."), strict=False
        ):
            ax.axvline(mean, color="0.25", ls=style, lw=1.1, label=label)
            if std > 0:
                ax.axvspan(mean - std, mean + std, color="0.5", alpha=0.15, lw=0)
        if log_axis(ax, "x", df.loc[df["scope"] == scope, "percent"], "remaining-percent"):
            percent_axis(ax.xaxis)
        ax.invert_xaxis()
        ax.set_title(SCOPE_LABELS.get(scope, scope))
        ax.set_xlabel("remaining weights (%)")
    axes[0][0].set_ylabel("test accuracy (%)")
    _one_seed(df, axes[0][0], "error bars")
    if title:
        fig.suptitle(title)
    tight_layout(fig, rect=(0, 0.09, 1, 1))
    _legend_below(fig, axes.flat, 5)
    return fig


def plot_pqi(df: pd.DataFrame, title: str = "") -> plt.Figure:
    """PQ Index per iteration of the trained (``w_t`` over ``m_t``) and pruned (``w_t`` over
    ``m_{t+1}``) networks, global measure, plus the test accuracy of the retrained network and
    (where recorded, ``pruned_test_acc``) of the just-pruned one per iteration, to read the
    phases (regularisation, compression, collapse); mean +- std band over seeds."""
    setup_style()
    scopes = _ordered(df["scope"], list(SCOPE_LABELS))
    methods = _ordered(df["method"], list(METHOD_LABELS))
    colors = _colors(methods)
    rows = [
        ("pqi_trained", "PQI, trained"),
        ("pqi_pruned", "PQI, pruned"),
        ("test_acc", "test accuracy (%)"),
    ]
    if "pruned_test_acc" in df and df["pruned_test_acc"].notna().any():
        rows.append(("pruned_test_acc", "test accuracy, pruned (%)"))
    fig, axes = plt.subplots(
        len(rows),
        len(scopes),
        figsize=(4.2 * len(scopes), 2.8 * len(rows)),
        sharex=True,
        sharey="row",
        squeeze=False,
    )
    labels = {m: METHOD_LABELS.get(m, m) for m in methods}
    for j, scope in enumerate(scopes):
        sub = df[df["scope"] == scope]
        for i, (col, _) in enumerate(rows):
            y = sub[col] * (100.0 if col.endswith("test_acc") else 1.0)
            mean_sd(axes[i][j], sub.assign(_y=y), "iteration", "_y", "method", colors, labels,
                    marker="o", ms=3)  # fmt: skip
        axes[0][j].set_title(SCOPE_LABELS.get(scope, scope))
        axes[-1][j].set_xlabel("pruning iteration")
    for i, (_, label) in enumerate(rows):
        axes[i][0].set_ylabel(label)
    _one_seed(df, axes[0][0], "band")
    if title:
        fig.suptitle(title)
    tight_layout(fig, rect=(0, 0.04, 1, 1))
    _legend_below(fig, axes.flat, 3)
    return fig


def plot_layers(df: pd.DataFrame, method: str = "sap", title: str = "") -> plt.Figure:
    """Remaining weights (%) per layer and iteration chosen by ``method`` (mean over seeds),
    one panel per scope; the black dashed line is the overall remaining percent."""
    setup_style()
    sub_all = df[df["method"] == method]
    scopes = _ordered(sub_all["scope"], list(SCOPE_LABELS))
    layer_cols = [c for c in df.columns if c.startswith("kept[")]
    layer_colours = palette("viridis", max(1, len(layer_cols)))
    few = len(layer_cols) <= 12  # else a colour bar instead of one legend entry per layer
    fig, axes = plt.subplots(
        1, max(1, len(scopes)), figsize=(4.2 * max(1, len(scopes)), 3.8), sharey=True, squeeze=False
    )
    if not scopes:
        note(axes[0][0], f"no {method} records to show")
    for ax, scope in zip(axes[0], scopes, strict=False):
        sub = sub_all[sub_all["scope"] == scope]
        long = sub[["iteration", *layer_cols]].melt("iteration", var_name="_layer")
        lines = mean_sd(
            ax, long.assign(_kept=100 * long["value"]), "iteration", "_kept", "_layer",
            dict(zip(layer_cols, layer_colours, strict=True)),
            {c: c[len("kept[") : -1] for c in layer_cols} if few else None,
            errorbar=None, marker="o" if few else None, ms=2.5, lw=1.2 if few else 0.8,
        )  # fmt: skip
        lines += mean_sd(ax, sub.assign(_all="all"), "iteration", "percent", "_all", {"all": "k"},
                         {"all": "all layers"}, errorbar=None, ls="--", lw=1.2)  # fmt: skip
        shown = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in lines])
        if log_axis(ax, "y", shown, "remaining-percent"):
            percent_axis(ax.yaxis)
        ax.set_title(f"{METHOD_LABELS.get(method, method)}, {SCOPE_LABELS.get(scope, scope)}")
        ax.set_xlabel("pruning iteration")
    axes[0][0].set_ylabel("remaining weights (%)")
    if title:
        fig.suptitle(title)
    tight_layout(fig, rect=(0, 0.1, 1, 1))
    _legend_below(fig, axes.flat, min(6, len(layer_cols) + 1) if few else 1)
    if not few:
        mappable = plt.cm.ScalarMappable(plt.Normalize(0, len(layer_cols) - 1), "viridis")
        fig.colorbar(mappable, ax=list(axes.flat), label="layer (model order)", pad=0.01)
    return fig


def limit_marks(limits: list[dict]) -> dict[str, tuple[float, float]]:
    """The one-shot limits of the l1 network (``limit.json`` of each seed) drawn as reference
    lines: label -> (mean, std) in percent kept, for the criteria that were measured."""
    marks = {}
    for key, label in (("rho_loss", "LOMP limit (loss)"), ("rho_acc", "LOMP limit (accuracy)")):
        values = [100 * float(lim[key]) for lim in limits if lim.get(key) is not None]
        if values:
            marks[label] = mean_std(values)
    return marks


# the columns each ablation varies, and their names in the legend
ABLATION_FAMILIES = {
    "pq": (("p", "q"), ("p", "q")),
    "eta_gamma": (("eta_r", "gamma"), ("eta_r", "gamma")),
}


def plot_ablation(
    df: pd.DataFrame, family: str, base: dict | None = None, title: str = ""
) -> plt.Figure:
    """SAP ablation (Diao et al. Fig. 4 for ``family = "pq"``, Fig. 5 for ``"eta_gamma"``):
    global PQI of the trained network, test accuracy and remaining weights per iteration, one
    line per setting (columns ``p, q, eta_r, gamma``), mean +- std band over seeds. ``base``:
    the configured setting, marked in the legend."""
    setup_style()
    keys, names = ABLATION_FAMILIES[family]
    settings = df[list(keys)].drop_duplicates().sort_values(list(keys))
    colours = palette("colorblind", max(1, len(settings)))
    rows = [
        ("pqi_trained", "PQI, trained"),
        ("test_acc", "test accuracy (%)"),
        ("percent", "remaining weights (%)"),
    ]
    fig, axes = plt.subplots(1, len(rows), figsize=(4.0 * len(rows), 3.6), squeeze=False)
    setting_of = pd.Series("", index=df.index)
    labels = {}
    for setting in settings.itertuples(index=False):
        values = dict(zip(keys, setting, strict=True))
        label = ", ".join(f"{n} = {v:g}" for n, v in zip(names, setting, strict=True))
        if base is not None and all(float(base[k]) == float(values[k]) for k in keys):
            label += " (configured)"
        setting_of[(df[list(keys)] == pd.Series(values)).all(axis=1)] = label
        labels[label] = label
    data = df.assign(_setting=setting_of, _acc=100 * df["test_acc"])
    colour_of = dict(zip(labels, colours, strict=True))
    for ax, (col, _) in zip(axes[0], rows, strict=True):
        y = "_acc" if col == "test_acc" else col
        mean_sd(ax, data, "iteration", y, "_setting", colour_of, labels, marker="o", ms=3)
    for ax, (_, label) in zip(axes[0], rows, strict=True):
        ax.set_xlabel("pruning iteration")
        ax.set_ylabel(label)
    if log_axis(axes[0][2], "y", df["percent"], "remaining-percent"):
        percent_axis(axes[0][2].yaxis)
    _one_seed(df, axes[0][0], "band")
    fixed = [k for k in ("p", "q", "eta_r", "gamma") if k not in keys]
    shown = ", ".join(f"{k} = {df[k].iloc[0]:g}" for k in fixed)
    fig.suptitle(f"{title}: SAP, global, {shown}" if title else f"SAP, global, {shown}")
    tight_layout(fig, rect=(0, 0.1, 1, 1))
    _legend_below(fig, axes.flat, min(4, len(settings)))
    return fig
