"""Figures of the pruning limit: phase transition, Hessian spectrum, predicted against actual.

Inputs are the JSON results of the workflow (``theory.json``, ``limit.json``,
``spectrum.json``) already loaded as dicts; kept ratios are plotted in percent.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from prunelimit.plotting import setup_style


def curve_rows(actual: dict, **labels) -> list[dict]:
    """Rows of one pruning curve (a :func:`prunelimit.experiment.pruning_curve` result):
    kept ratio in %, excess training loss over ``eps``, test accuracy, plus ``labels``."""
    base, eps = actual["unpruned"]["train_loss"], actual["eps"]
    return [
        {
            "rho %": 100 * p["rho"],
            "excess": (p["train_loss"] - base) / eps,
            "test_acc": p["test_acc"],
            **labels,
        }
        for p in actual["curve"]
    ]


def curve_panels(df: pd.DataFrame, hue: str, palette: dict, figsize=(11, 4), legend_panel: int = 0):
    """The two panels of pruning curves, one line per ``seed``: excess training loss / eps
    (symlog, feasible below the dotted line at 1) and test accuracy, against the kept ratio
    (log). Returns (fig, axes)."""
    fig, axes = plt.subplots(1, 2, figsize=figsize, sharex=True)
    for i, (ax, y) in enumerate(zip(axes, ("excess", "test_acc"), strict=True)):
        sns.lineplot(
            df,
            x="rho %",
            y=y,
            hue=hue,
            units="seed",
            estimator=None,
            marker="o",
            markersize=3,
            palette=palette,
            ax=ax,
            legend=i == legend_panel,
        )
        ax.set_xscale("log")
        ax.set_xlabel("kept ratio rho (% of D)")
    axes[0].axhline(1.0, color="k", lw=0.8, ls=":", label="L(w*) + eps")
    axes[0].set_yscale("symlog", linthresh=1.0)
    axes[0].set_ylabel("(L(w_rho) - L(w*)) / eps  (training loss)")
    axes[1].set_ylabel("test accuracy")
    return fig, axes


def phase_transition(name: str, theories: list[dict], limits: list[dict]) -> plt.Figure:
    """Training loss and test accuracy against kept ratio (log axis), l1 and dense, all seeds;
    the theoretical limit (mean over seeds) with its bounds band and the actual limits."""
    setup_style()
    df = pd.DataFrame(
        [
            row
            for lim in limits
            for kind in ("l1", "dense")
            for row in curve_rows(lim[kind], network=kind, seed=lim["seed"])
        ]
    )
    fig, axes = curve_panels(df, "network", {"l1": "C0", "dense": "C3"})
    th = 100 * np.mean([t["rho_th"] for t in theories])
    lo = 100 * np.mean([t["rho_lower"] for t in theories])
    up = 100 * np.mean([t["rho_upper"] for t in theories])
    act = 100 * np.mean([lim["rho_loss"] for lim in limits])
    act_acc = 100 * np.mean([lim["rho_acc"] for lim in limits])
    for ax in axes:
        ax.axvspan(max(lo, 1e-3), up, color="C2", alpha=0.12, label="bounds [rho_L, rho_U]")
        ax.axvline(th, color="C2", lw=1.5, label=f"theory rho_th = {th:.2f} %")
        ax.axvline(act, color="k", lw=1.2, ls="--", label=f"actual (loss) = {act:.2f} %")
        ax.axvline(act_acc, color="0.4", lw=1.0, ls="-.", label=f"actual (acc) = {act_acc:.2f} %")
    axes[0].legend(fontsize=7, loc="upper right")
    fig.suptitle(
        f"{name}: one-shot magnitude pruning without fine-tuning "
        f"({len(limits)} seed{'s' if len(limits) > 1 else ''})"
    )
    fig.tight_layout()
    return fig


def spectral_density(name: str, spectra: list[dict], theories: list[dict]) -> plt.Figure:
    """The SLQ quadrature itself: Ritz nodes with their weights (pooled over probes and seeds),
    and the cumulative spectral weight against |lambda|; the dotted line marks
    2 eps / R(rho_th)^2, the eigenvalue scale below which directions count as flat."""
    setup_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, sp in enumerate(spectra):
        nodes, weights = np.asarray(sp["nodes"]), np.asarray(sp["weights"])
        k = nodes.shape[0]
        keep = weights > 0
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
        axes[1].step(np.maximum(lam[order], 1e-12), cum, where="post", color=f"C{i}")
    axes[0].set_xscale("symlog", linthresh=1e-3)
    axes[0].set_yscale("log")
    axes[0].set_xlabel("Ritz value theta (symlog)")
    axes[0].set_ylabel("quadrature weight tau / probes")
    axes[0].legend(fontsize=7)
    axes[1].set_xscale("log")
    axes[1].set_xlabel("|lambda|")
    axes[1].set_ylabel("cumulative spectral weight")
    for i, t in enumerate(theories):
        scale = 2 * t["inputs"]["eps"] / max(t["R_at_rho_th"] ** 2, 1e-30)
        axes[1].axvline(scale, color=f"C{i}", ls=":", lw=1)
    fig.suptitle(f"{name}: Hessian spectrum at w* by stochastic Lanczos quadrature")
    fig.tight_layout()
    return fig


def predicted_vs_actual(records: list[dict]) -> plt.Figure:
    """Theoretical against actual limit (loss criterion) for every experiment and seed, with
    the bounds as error bars and the line y = x (log-log, percent)."""
    setup_style()
    df = pd.DataFrame(records)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for i, (name, grp) in enumerate(df.groupby("experiment", sort=False)):
        x, y = 100 * grp["rho_loss"], 100 * grp["rho_th"]
        yerr = np.vstack([y - 100 * grp["rho_lower"], 100 * grp["rho_upper"] - y]).clip(0)
        ax.errorbar(x, y, yerr=yerr, fmt="o", color=f"C{i}", capsize=3, alpha=0.8, label=name)
        ax.scatter(100 * grp["rho_acc"], y, marker="x", color=f"C{i}", alpha=0.8)
    vals = 100 * np.concatenate([df[c].to_numpy() for c in ("rho_th", "rho_loss", "rho_acc")])
    vals = vals[vals > 0]
    lo, hi = vals.min() / 2, min(100.0, vals.max() * 2)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_xlabel("actual limit (% of D): o loss criterion, x accuracy criterion")
    ax.set_ylabel("theoretical limit rho_th (% of D), bars: bounds")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
