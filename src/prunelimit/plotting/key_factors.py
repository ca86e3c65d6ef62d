"""The key factors of the limit (Zhang et al.): flatness and the magnitude of what is removed.

At the theory's limit the removed weights have norm ``R = ||w* - w_rho||`` (``R_at_rho_th`` in
``theory.json``) and the Hessian's measure has trace ``T`` (``trace_measure``: ``Tr|H|`` under
``negative: abs``). The upper bound of the theory, ``rho_U = R^2 T / (R^2 T + 2 eps D)``
(:func:`prunelimit.limit.theory.bound_values`; computed here without torch, which the figure jobs'
environment lacks), depends on them only through the key factor
``s = R^2 T / (2 eps D)``: ``rho_U = s / (1 + s)``, and ``rho_th <= rho_U`` at every network.
A flatter Hessian (smaller ``T / D``) and smaller removed magnitudes (smaller ``R^2 / 2 eps``)
give a smaller ``s`` and a smaller limit. The magnitude alone is varied by the theory's
``magnitude_scaling`` (``theory.json``): ``rho_th`` of the weights scaled by ``c``, with ``H``
and ``eps`` held (columns ``rho_th_x{c}``). Kept ratios are plotted in percent.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prunelimit.plotting import log_axis, mean_sd, note, plural, setup_style, tight_layout

SCALED = "rho_th_x"  # rho_th of the weights scaled by a factor (theory's magnitude_scaling)
LIMITS = {"rho_th": ("theory rho_th", "o"), "rho_loss": ("actual (a) loss", "s"),
          "rho_objective": ("actual (b) objective", "^")}  # fmt: skip


def key_factor_rows(theories: list[dict], limits: list[dict]) -> pd.DataFrame:
    """One row per network (experiment, seed, kind: ``theories`` of the l1 networks and of the
    dense and l2 ones that have a theory): flatness ``T / D``, magnitude ``R^2 / 2 eps``, the
    key factor ``s`` and its bound ``s / (1 + s)``, and the limits (fractions of D; the l1
    network's headline, another kind's from its curve in ``limit.json``)."""
    actual = {(d["experiment"], d["seed"]): d for d in limits}
    rows = []
    for th in theories:
        i, key = th["inputs"], (th["experiment"], th["seed"])
        D, eps, T, R2 = i["D"], i["eps"], th["trace_measure"], th["R_at_rho_th"] ** 2
        kind = th.get("kind", "l1")
        lim = actual.get(key, {})
        lim = lim if kind == "l1" else (lim.get(kind) or {})
        rows.append(
            {
                "experiment": key[0],
                "seed": key[1],
                "kind": kind,
                "flatness": T / D,
                "magnitude": R2 / (2 * eps),
                "key_factor": R2 * T / (2 * eps * D),
                "bound": R2 * T / (R2 * T + 2 * eps * D),  # rho_U (theory.bound_values)
                "rho_th": th["rho_th"],
                "rho_loss": lim.get("rho_loss", np.nan),
                "rho_objective": lim.get("rho_objective", np.nan),
                **{
                    f"{SCALED}{r['factor']:g}": r["rho_th"]
                    for r in th.get("magnitude_scaling") or []
                    if r["factor"] != 1
                },
            }
        )
    return pd.DataFrame(rows)


def scaled_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows``' ``rho_th`` against the magnitude factor ``c`` (``factor``; 1: the network
    itself), one row per network and factor, with the network's label (``network``)."""
    cols = [c for c in rows.columns if c.startswith(SCALED)]
    if not cols:
        return pd.DataFrame(columns=["network", "factor", "rho_th"])
    wide = rows.assign(network=_network(rows)).rename(columns={"rho_th": f"{SCALED}1"})
    long = wide.melt(["network", "seed"], [f"{SCALED}1", *cols], "factor", "rho_th")
    long["factor"] = long["factor"].str.removeprefix(SCALED).astype(float)
    return long.dropna(subset=["rho_th"])


def _network(rows: pd.DataFrame) -> pd.Series:
    """The label of each row's network: the experiment, with its kind where it has several."""
    kinds = rows.get("kind", pd.Series("l1", index=rows.index))
    several = kinds.groupby(rows["experiment"]).transform("nunique") > 1
    return rows["experiment"].where(~several, rows["experiment"] + " " + kinds)


def key_factors(rows: pd.DataFrame) -> plt.Figure:
    """Limits against flatness, magnitude and the key factor ``s`` (with ``s / (1 + s)``), one
    colour per network (experiment, and kind where it has several), one marker per limit, one
    point per seed."""
    setup_style()
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), sharey=True)
    columns = (("flatness", "flatness Tr|H| / D"),
               ("magnitude", "removed magnitude R(rho_th)^2 / (2 eps)"),
               ("key_factor", "key factor s = R^2 Tr|H| / (2 eps D)"))  # fmt: skip
    scaled = scaled_rows(rows)
    limits = 100 * np.concatenate(
        [rows[list(LIMITS)].to_numpy(float).ravel(), scaled["rho_th"].to_numpy(float)]
    )
    networks = list(dict.fromkeys(_network(rows)))
    for ax, (col, label) in zip(axes, columns, strict=False):
        for c, (name, grp) in enumerate(rows.groupby(_network(rows), sort=False)):
            for key, (what, marker) in LIMITS.items():
                ax.scatter(grp[col], 100 * grp[key], marker=marker, color=f"C{c}", alpha=0.8,
                           facecolors="none" if key != "rho_th" else f"C{c}",
                           label=f"{name}: {what}")  # fmt: skip
        log_axis(ax, "x", rows[col], col)
        ax.set_xlabel(label)
    s = rows["key_factor"].to_numpy(float)
    s = s[np.isfinite(s) & (s > 0)]
    if len(s):
        grid = np.geomspace(s.min() / 3, s.max() * 3, 200)
        axes[2].plot(grid, 100 * grid / (1 + grid), "k--", lw=1, label="bound s / (1 + s)")
    ax = axes[3]
    if len(scaled):
        colours = {name: f"C{c}" for c, name in enumerate(networks)}
        mean_sd(ax, scaled.assign(rho_th=100 * scaled["rho_th"]), "factor", "rho_th", "network",
                colours, {n: n for n in networks}, bars=True, marker="o")  # fmt: skip
        ax.legend(fontsize=6, loc="lower right")
    else:
        note(ax, "no magnitude scaling (theory.magnitude_factors: [])")
    ax.set_xlabel("weights scaled by c (H and eps held): theory rho_th")
    log_axis(axes[0], "y", limits, "limit")
    axes[0].set_ylabel("kept ratio at the limit (% of D)")
    n = rows.groupby(_network(rows)).size()
    if (n == 1).all():
        note(axes[0], "one seed per experiment")
    axes[2].legend(fontsize=6, loc="lower right")
    fig.suptitle(
        f"Key factors: flatter Hessians and smaller removed magnitudes prune further "
        f"({plural(len(rows), 'network')})"
    )
    tight_layout(fig)
    return fig
