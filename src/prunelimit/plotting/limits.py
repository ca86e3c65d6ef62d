"""Figures of the pruning limit: phase transition, Hessian spectrum, predicted against actual.

Inputs are the JSON results of the workflow (``theory.json``, ``limit.json``,
``spectrum.json``) already loaded as dicts; kept ratios are plotted in percent.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prunelimit.plotting import log_axis, note, plural, setup_style, tight_layout
from prunelimit.tables import grid_edge


def curve_rows(actual: dict, **labels) -> list[dict]:
    """Rows of one pruning curve (a :func:`prunelimit.limit.actual.pruning_curve` result):
    kept ratio in %, excess training loss and excess l1 objective over ``eps``, validation and
    test accuracy, plus ``labels``."""
    base, eps = actual["unpruned"]["train_loss"], actual["eps"]
    base_obj = actual["unpruned"].get("objective", base)
    return [
        {
            "rho %": 100 * p["rho"],
            "excess": (p["train_loss"] - base) / eps,
            "excess_objective": (p.get("objective", p["train_loss"]) - base_obj) / eps,
            "val_acc": p["val_acc"],
            "test_acc": p["test_acc"],
            **labels,
        }
        for p in actual["curve"]
    ]


YLABELS = {
    "excess": "(L(w_rho) - L(w*)) / eps  (cross-entropy)",
    "excess_objective": "excess l1 objective / eps",
    "val_acc": "validation accuracy",
    "test_acc": "test accuracy",
}


def curve_panels(
    df: pd.DataFrame,
    hue: str,
    palette: dict,
    figsize=(11, 4),
    legend_panel: int = 0,
    ys: tuple[str, ...] = ("excess", "test_acc"),
):
    """Panels of pruning curves, one line per ``seed``, against the kept ratio (log): the
    columns ``ys`` of :func:`curve_rows`; excess losses over eps are symlog, feasible below
    the dotted line at 1. Returns (fig, axes)."""
    fig, axes = plt.subplots(1, len(ys), figsize=figsize, sharex=True)
    if df.empty:
        note(axes[0], "no pruning curve to show")
    for i, (ax, y) in enumerate(zip(axes, ys, strict=True)):
        for label, colour in palette.items() if not df.empty else ():  # a line per seed
            runs = df[df[hue] == label]
            for j, (_, run) in enumerate(runs.groupby("seed", sort=True)):
                run = run.sort_values("rho %")
                ax.plot(
                    run["rho %"],
                    run[y],
                    marker="o",
                    markersize=3,
                    color=colour,
                    label=label if j == 0 else None,
                )
        if i == legend_panel and not df.empty:
            ax.legend(title=hue)
        ax.set_xlabel("kept ratio rho (% of D)")
        ax.set_ylabel(YLABELS[y])
        if y.startswith("excess"):
            ax.axhline(1.0, color="k", lw=0.8, ls=":", label="+ eps")
            ax.set_yscale("symlog", linthresh=1.0)
    log_axis(axes[0], "x", df["rho %"] if "rho %" in df else [], "kept-ratio")  # shared x
    return fig, axes


KIND_COLOURS = {"l1": "C0", "dense": "C3", "l2": "C4"}


def phase_transition(
    name: str, theories: list[dict], limits: list[dict], kind_theories: list[dict] = ()
) -> plt.Figure:
    """Training loss and test accuracy against kept ratio (log axis), l1, dense and l2 (where
    trained), all seeds; the l1 network's theoretical limit (mean over seeds) with its bounds
    band and actual limits; the theories of the other kinds (``kind_theories``, where they
    have one) as dotted lines in their colour."""
    setup_style()
    df = pd.DataFrame(
        [
            row
            for lim in limits
            for kind in KIND_COLOURS
            if lim.get(kind)  # imported weights may come without a dense network
            for row in curve_rows(lim[kind], network=kind, seed=lim["seed"])
        ]
    )
    fig, axes = curve_panels(
        df,
        "network",
        KIND_COLOURS,
        figsize=(15, 4),
        ys=("excess", "excess_objective", "val_acc"),
    )
    for kind, colour in KIND_COLOURS.items():
        rhos = [t["rho_th"] for t in kind_theories if t.get("kind") == kind]
        if rhos:
            for ax in axes:
                ax.axvline(100 * np.mean(rhos), color=colour, lw=1.2, ls=":",
                           label=f"{kind} theory = {100 * np.mean(rhos):.2f} %")  # fmt: skip
    th = 100 * np.mean([t["rho_th"] for t in theories])
    lo = 100 * np.mean([t["rho_lower"] for t in theories])
    up = 100 * np.mean([t["rho_upper"] for t in theories])
    for ax, (crit, label) in zip(
        axes,
        (("loss", "(a) loss"), ("objective", "(b) objective"), ("acc", "(c) val acc")),
        strict=True,
    ):
        act = 100 * np.mean([lim[f"rho_{crit}"] for lim in limits])
        ax.axvspan(max(lo, 1e-3), up, color="C2", alpha=0.12, label="bounds [rho_L, rho_U]")
        ax.axvline(th, color="C2", lw=1.5, label=f"theory rho_th = {th:.2f} %")
        ax.axvline(act, color="k", lw=1.2, ls="--", label=f"actual {label} = {act:.2f} %")
        ax.legend(fontsize=7, loc="best")
    for lim in limits:
        grid = [p["rho"] for p in lim["l1"]["curve"]] if lim.get("l1") else []
        crit = {c: lim.get(f"rho_{c}") for c in ("loss", "objective", "acc")}
        edge = grid_edge(crit, min(grid) if grid else None)
        if edge:
            note(axes[0], f"seed {lim['seed']}: {edge}")
    fig.suptitle(
        f"{name}: one-shot magnitude pruning without fine-tuning ({plural(len(limits), 'seed')})"
    )
    tight_layout(fig)
    return fig


def spectral_density(name: str, spectra: list[dict], theories: list[dict]) -> plt.Figure:
    """The SLQ quadrature itself: Ritz nodes with their weights (pooled over probes and seeds),
    and the cumulative spectral weight against |lambda|; the dotted line marks
    2 eps / R(rho_th)^2, the eigenvalue scale below which directions count as flat."""
    setup_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    taus, lams = [], []
    for i, sp in enumerate(spectra):
        nodes, weights = np.atleast_2d(sp["nodes"]), np.atleast_2d(sp["weights"])
        k = nodes.shape[0]
        keep = weights > 0
        taus.append(weights[keep] / k)
        axes[0].scatter(
            nodes[keep],
            weights[keep] / k,
            s=8,
            alpha=0.6,
            color=f"C{i}",
            label=f"seed {theories[i]['seed']}" if i < len(theories) else None,
        )
        lam = np.abs(nodes[keep])
        order = np.argsort(lam)
        cum = np.cumsum((weights[keep] / k)[order])
        lams.append(lam)
        axes[1].step(lam[order], cum, where="post", color=f"C{i}")
    axes[0].set_xscale("symlog", linthresh=1e-3)
    log_axis(axes[0], "y", np.concatenate([[], *taus]), "quadrature weight")
    axes[0].set_xlabel("Ritz value theta (symlog)")
    axes[0].set_ylabel("quadrature weight tau / probes")
    if any(len(t) for t in taus):
        axes[0].legend(fontsize=7)
    log_axis(axes[1], "x", np.concatenate([[], *lams]), "|lambda|")
    axes[1].set_xlabel("|lambda|")
    axes[1].set_ylabel("cumulative spectral weight")
    for i, t in enumerate(theories):
        if not t.get("R_at_rho_th"):  # rho_th = 100 %: nothing removed, no eigenvalue scale
            note(axes[1], f"seed {t['seed']}: R(rho_th) = 0, no flat-direction scale")
            continue
        scale = 2 * t["inputs"]["eps"] / t["R_at_rho_th"] ** 2
        axes[1].axvline(scale, color=f"C{i}", ls=":", lw=1)
    fig.suptitle(f"{name}: Hessian spectrum at w* by stochastic Lanczos quadrature")
    tight_layout(fig)
    return fig


def lanczos_convergence(name: str, theories: list[dict]) -> plt.Figure:
    """``rho_th`` computed from the first ``j`` Lanczos steps of each seed's run against ``j``
    (the run's own prefixes: no extra Hessian products), with the verdict of each seed."""
    setup_style()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, t in enumerate(theories):
        conv = t.get("convergence")
        if not conv:
            note(ax, f"seed {t['seed']}: no Lanczos prefixes recorded in theory.json")
            continue
        verdict = "converged" if conv["converged"] else "NOT converged"
        ax.plot(
            conv["steps"],
            100 * np.asarray(conv["rho_th"]),
            marker="o",
            ms=3,
            color=f"C{i}",
            label=f"seed {t['seed']}: {verdict} (|change from m/2| = "
            f"{100 * conv['change_from_half']:.2f}, range over [m/2, m] = "
            f"{100 * conv.get('spread_second_half', float('nan')):.2f} points)",
        )
    ax.set_xlabel("Lanczos steps j")
    ax.set_ylabel("rho_th from the first j steps (% of D)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    ax.set_title(f"{name}: convergence of rho_th in the Lanczos steps")
    tight_layout(fig)
    return fig


CRITERIA_COLUMNS = ("rho_loss", "rho_objective", "rho_acc")


def predicted_vs_actual(records: list[dict]) -> plt.Figure:
    """Theoretical against actual limit (loss, objective and accuracy criteria) for every
    experiment and seed, with the bounds as error bars and the line y = x (log-log, percent)."""
    setup_style()
    df = pd.DataFrame(records)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, (name, grp) in enumerate(df.groupby("experiment", sort=False)):
        x, y = 100 * grp["rho_loss"], 100 * grp["rho_th"]
        yerr = np.vstack([y - 100 * grp["rho_lower"], 100 * grp["rho_upper"] - y]).clip(0)
        ax.errorbar(x, y, yerr=yerr, fmt="o", color=f"C{i}", capsize=3, alpha=0.8, label=name)
        ax.scatter(
            100 * grp["rho_objective"],
            y,
            marker="s",
            facecolors="none",
            edgecolors=f"C{i}",
            alpha=0.8,
        )
        ax.scatter(100 * grp["rho_acc"], y, marker="x", color=f"C{i}", alpha=0.8)
    actual = 100 * np.concatenate([df[c].to_numpy(float) for c in CRITERIA_COLUMNS])
    log_x = log_axis(ax, "x", actual, "actual-limit")
    log_y = log_axis(ax, "y", 100 * df["rho_th"].to_numpy(float), "rho_th")
    vals = np.concatenate([actual, 100 * df["rho_th"].to_numpy(float)])
    vals = vals[np.isfinite(vals) & ((vals > 0) if log_x else True)]
    if len(vals) and log_x == log_y:  # y = x on one kind of axis (else no diagonal)
        lo = vals.min() / 2 if log_x else min(vals.min(), 0.0)
        hi = min(100.0, vals.max() * 2) if log_x else max(vals.max(), lo + 1.0)
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        ax.set_xlim(lo, hi)
    ax.set_xlabel("actual limit (% of D): o loss, square objective, x accuracy")
    ax.set_ylabel("theoretical limit rho_th (% of D), bars: bounds")
    ax.legend(fontsize=7)
    tight_layout(fig)
    return fig


def local_model(name: str, theories: list[dict], limits: list[dict]) -> plt.Figure:
    """The measured rise along the pruning path of w* against its local model at w*, in units
    of eps, per seed: the cross-entropy (left) with its first-order term ``g^T u`` along the
    whole path, and the l1 objective (right) with the first-order term plus the exact penalty
    change. Markers: the quadratic term ``u^T H u / 2`` and the second-order model at rho_th
    and the actual limits. Lines: rho_th and the actual limits (mean over seeds); red dotted:
    the largest kept ratio where the first-order model's error exceeds eps."""
    setup_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    panels = (
        (axes[0], "measured", "first_order", "model", "first order g.u"),
        (
            axes[1],
            "objective_measured",
            "objective_first_order",
            "objective_model",
            "first order - lambda |w_removed|_1",
        ),
    )
    shown = []
    for i, lim in enumerate(limits):
        loc = lim.get("local_model")
        if not loc:
            note(axes[0], f"seed {lim['seed']}: no local model in limit.json")
            continue
        order = np.argsort(loc["rho"])
        rho = 100 * np.asarray(loc["rho"])[order]
        shown.append(rho)
        for ax, *keys in panels:
            _local_model_seed(ax, loc, order, rho, keys, legend=i == 0)
        breaks = loc.get("rho_first_order_breaks")  # NaN is stored as null: never broke
        if breaks is not None and math.isfinite(breaks):
            axes[0].axvline(100 * breaks, color="C3", lw=0.8, ls=":")
    th = _local_model_limits(axes, theories, limits)
    log_axis(axes[0], "x", np.concatenate([[th], *shown]), "kept-ratio")  # shared x
    axes[0].set_ylabel("cross-entropy rise / eps")
    axes[1].set_ylabel("l1 objective rise / eps")
    fig.suptitle(f"{name}: the local model of the loss at w* along the pruning path")
    tight_layout(fig)
    return fig


def _local_model_seed(
    ax: plt.Axes, loc: dict, order: np.ndarray, rho: np.ndarray, keys: list, legend: bool
) -> None:
    """One seed's panel of :func:`local_model`: the measured rise and its first-order term at
    the kept ratios ``rho`` (%, sorted by ``order``) and the second-order model at the marks
    (on the cross-entropy panel also the quadratic term). ``keys``: the measured, first-order
    and model keys and the first-order label; ``legend``: label the artists (the first seed)."""
    measured, first, model, first_label = keys
    ax.plot(
        rho,
        np.asarray(loc[f"{measured}_eps"])[order],
        color="k",
        marker="o",
        markersize=2.5,
        label="measured" if legend else None,
    )
    ax.plot(
        rho,
        np.asarray(loc[f"{first}_eps"])[order],
        color="C0",
        ls="--",
        label=first_label if legend else None,
    )
    marks = list(loc["marks"].values())
    x = [100 * m["rho"] for m in marks]
    ax.scatter(
        x,
        [m[model] for m in marks],
        color="C2",
        marker="D",
        s=18,
        zorder=3,
        label="second-order model (+ quadratic u.Hu/2)" if legend else None,
    )
    if measured == "measured":
        ax.scatter(
            x,
            [m["quadratic"] for m in marks],
            color="C1",
            marker="s",
            s=14,
            zorder=3,
            label="quadratic u.Hu/2" if legend else None,
        )


def _local_model_limits(axes, theories: list[dict], limits: list[dict]) -> float:
    """On both panels of :func:`local_model` the mean rho_th and the mean actual limit of the
    panel's criterion (loss, objective), the eps level, symlog y axes and the legends; return
    that rho_th (%)."""
    th = 100 * np.mean([t["rho_th"] for t in theories])
    for ax, (crit, label) in zip(
        axes, (("loss", "(a) loss"), ("objective", "(b) objective")), strict=True
    ):
        act = 100 * np.mean([lim[f"rho_{crit}"] for lim in limits])
        ax.axvline(th, color="C2", lw=1.5, label=f"theory rho_th = {th:.2f} %")
        ax.axvline(act, color="k", lw=1.2, ls="--", label=f"actual {label} = {act:.2f} %")
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("kept ratio rho (% of D)")
        ax.legend(fontsize=7, loc="best")
    return th
