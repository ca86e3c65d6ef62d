"""The role of l2 regularisation in the limit (Zhang et al., Fig. 4 bottom): the theory's
threshold of the networks trained without and with l2, for sparse networks from one-shot
magnitude pruning at fixed kept ratios, against the projection distance ``R``.

The threshold of one network at distance ``R`` is the kept ratio its theory requires there,
``t(R) = 1 - delta(R) / D`` with ``delta(R) = sum_i 2 eps / (2 eps + R^2 |lambda_i|)`` over its
Hessian's spectrum (docs/theory.md): a point at distance ``R`` from ``w*`` in a subspace of kept
ratio ``rho`` meets the loss sublevel set ``L <= L(w*) + eps`` when ``rho >= t(R)``. Magnitude
pruning to a fixed kept ratio ``rho`` moves ``w*`` by ``R(rho) = ||w* - w_rho||_2`` (the l2 norm
of the removed weights), so the pruned network is predicted to stay within ``eps`` when
``rho >= t(R(rho))``; ``rho_th`` is where the pruning path ``(R(rho), rho)`` crosses ``t``.
l2 regularisation changes both: smaller magnitudes (a smaller ``R`` at the same ``rho``) and
another Hessian (another ``t``).

Inputs, no weights (the figure jobs' environment lacks torch): ``theory.json`` (``curve``: the
exact ``R`` at 60 kept ratios; ``weight_histogram``; ``inputs``: ``D``, ``eps``, ``negative``,
``weight_l2``) and the matching ``spectrum.json`` (Ritz nodes and weights). ``R`` at a kept ratio
between two points of the curve is interpolated with the squared magnitudes that the histogram
puts between them (:func:`removed_norm_at`: exact at the curve's points and at ``rho_th``; on
our runs within 1.5 % of the exact norm at kept ratios 1-99 %, where a linear interpolation is
off by up to 13 %). ``t(R)`` is the theory's quadrature itself (:func:`threshold`, equal to
:func:`prunelimit.limit.theory.delta_fraction`, which needs torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prunelimit.plotting import note, plural, setup_style, tight_layout
from prunelimit.plotting.limits import KIND_COLOURS  # as in the transition figure

# The fixed kept ratios of the sparse networks (no config key: the paper's two are not known).
FIXED_RATIOS = (0.1, 0.5)
KIND_LABELS = {"dense": "no regularisation (dense)", "l2": "l2 (weight decay)", "l1": "l1"}
Network = tuple[dict, dict]  # (theory.json, its spectrum.json)


def threshold(
    R: np.ndarray | float, spectrum: dict, eps: float, negative: str = "abs"
) -> np.ndarray:
    """``t(R) = 1 - delta(R) / D`` for each distance in ``R``: the SLQ quadrature of
    ``spectrum`` (nodes and weights per probe) as :func:`prunelimit.limit.theory.delta_fraction`
    computes it (``negative``: ``abs`` uses ``|theta|``, ``clip`` ``max(theta, 0)``)."""
    if negative not in ("abs", "clip"):
        raise ValueError(f"negative must be 'abs' or 'clip', got {negative!r}")
    nodes = np.asarray(spectrum["nodes"], float)
    lam = np.abs(nodes) if negative == "abs" else np.clip(nodes, 0.0, None)
    r2 = np.atleast_1d(np.asarray(R, float))[:, None, None] ** 2
    f = 2 * eps / (2 * eps + r2 * lam[None])
    return 1.0 - (np.asarray(spectrum["weights"], float)[None] * f).sum(-1).mean(-1)


def _squared_mass_from_top(hist: dict) -> Callable[[np.ndarray], np.ndarray]:
    """``C(r)``: the sum of the ``r`` largest squared magnitudes as the weight histogram gives
    it (each weight of a bin ``[a, b)`` at the mean of ``m^2`` over ``log m`` uniform in the
    bin; exact zeros last, at 0), linear within a bin."""
    counts = np.asarray(hist["counts"], float)[::-1]
    edges = 10.0 ** np.asarray(hist["log10_edges"], float)[::-1]
    hi, lo = edges[:-1], edges[1:]
    mean_sq = (hi**2 - lo**2) / (2 * np.log(hi / lo))
    ranks, mass = np.r_[0.0, np.cumsum(counts)], np.r_[0.0, np.cumsum(counts * mean_sq)]
    return lambda r: np.interp(r, ranks, mass)


def removed_norm_at(theory: dict, rhos: Sequence[float]) -> np.ndarray:
    """``R(rho)`` of one network at each kept ratio of ``rhos``, from its ``theory.json``: exact
    where ``k = round(rho D)`` is a point of the curve, 0 or ``rho_th D``; between two such
    points ``k_a < k < k_b``, ``R(k_b)^2`` plus the step ``R(k_a)^2 - R(k_b)^2`` times the share
    of the histogram's squared magnitudes of ranks ``[k_a, k_b)`` that lie in ``[k, k_b)``
    (linear in ``k`` without a histogram)."""
    D, curve = theory["inputs"]["D"], theory["curve"]
    ks = np.round(np.r_[0, curve["rho"], theory["rho_th"]] * D).astype(int)
    r2 = np.r_[theory["inputs"]["weight_l2"], curve["R"], theory["R_at_rho_th"]] ** 2
    ks, first = np.unique(ks, return_index=True)  # sorted
    r2 = r2[first]
    k = np.clip(np.round(np.asarray(rhos, float) * D), 0, D)
    b = np.clip(np.searchsorted(ks, k), 1, len(ks) - 1)
    ka, kb = ks[b - 1].astype(float), ks[b].astype(float)
    hist = theory.get("weight_histogram")
    C = _squared_mass_from_top(hist) if hist else (lambda r: np.asarray(r, float))
    span = C(kb) - C(ka)
    share = np.where(span > 0, (C(kb) - C(k)) / np.where(span > 0, span, 1), (kb - k) / (kb - ka))
    return np.sqrt(r2[b] + (r2[b - 1] - r2[b]) * np.clip(share, 0, 1))


def _key(theory: dict) -> dict:
    """The network of a theory record: experiment, seed and kind."""
    return {"experiment": theory["experiment"], "seed": theory["seed"],
            "kind": theory.get("kind", "l1")}  # fmt: skip


def _check(theory: dict, spectrum: dict) -> None:
    """Raise unless ``spectrum`` is the spectrum of ``theory``'s network (kind and ``D``)."""
    kinds = (theory.get("kind", "l1"), spectrum.get("kind", "l1"))
    if kinds[0] != kinds[1] or spectrum["D"] != theory["inputs"]["D"]:
        raise ValueError(
            f"{_key(theory)}: the spectrum (kind {kinds[1]}, D = {spectrum['D']}) is not the "
            f"theory's (kind {kinds[0]}, D = {theory['inputs']['D']})"
        )


def ratio_rows(networks: Sequence[Network], ratios: Sequence[float] = FIXED_RATIOS) -> pd.DataFrame:
    """One row per network and fixed kept ratio ``rho``: ``R`` (:func:`removed_norm_at`), the
    threshold ``t(R)`` there, ``feasible`` (``rho >= t``: the theory predicts the pruned network
    within ``eps``), and the network's ``rho_th`` and ``R(rho_th)``."""
    rows = []
    for th, sp in networks:
        _check(th, sp)
        i = th["inputs"]
        R = removed_norm_at(th, ratios)
        t = threshold(R, sp, i["eps"], i.get("negative", "abs"))
        rows += [{**_key(th), "rho": r, "R": x, "threshold": y, "feasible": bool(r >= y),
                  "rho_th": th["rho_th"], "R_at_rho_th": th["R_at_rho_th"]}
                 for r, x, y in zip(ratios, R, t, strict=True)]  # fmt: skip
    columns = ["experiment", "seed", "kind", "rho", "R", "threshold", "feasible", "rho_th",
               "R_at_rho_th"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def regularisation_figure(
    networks: Sequence[Network], ratios: Sequence[float] = FIXED_RATIOS
) -> plt.Figure:
    """One row per experiment, one panel per fixed kept ratio ``rho``: every network's threshold
    ``t(R)`` (solid; dense, l2, l1) and pruning path ``(R(rho'), rho')`` (thin dashed; it
    crosses ``t`` at ``rho_th``, dot), the ratio ``rho`` (dotted), and at ``R(rho)`` the
    threshold (filled: ``rho >= t``, predicted within ``eps``; open: not), joined to the path."""
    setup_style()
    rows = ratio_rows(networks, ratios)
    experiments = list(dict.fromkeys(rows["experiment"])) or ["(none)"]
    fig, axes = plt.subplots(len(experiments), len(ratios), squeeze=False,
                             figsize=(5.6 * len(ratios), 4.4 * len(experiments)))  # fmt: skip
    for row, exp in zip(axes, experiments, strict=True):
        mine = [(th, sp) for th, sp in networks if th["experiment"] == exp]
        for ax, rho in zip(row, ratios, strict=True):
            _panel(ax, mine, rows[(rows["experiment"] == exp) & (rows["rho"] == rho)])
            ax.set_title(f"{exp}: magnitude pruning to rho = {100 * rho:g} %")
            if not mine:
                note(ax, "no experiment with an l2_train block: no l2 network")
    n = len(networks)
    fig.suptitle(f"The threshold with and without l2 regularisation ({plural(n, 'network')})")
    tight_layout(fig)
    return fig


def _panel(ax: plt.Axes, networks: Sequence[Network], at: pd.DataFrame) -> None:
    """One panel of :func:`regularisation_figure`: the networks' curves and paths, and their
    rows ``at`` of :func:`ratio_rows` at the panel's ratio."""
    order = list(KIND_LABELS)  # dense, l2, l1: the legend's order
    for th, sp in sorted(networks, key=lambda n: (order.index(_key(n[0])["kind"]), n[0]["seed"])):
        key, i = _key(th), th["inputs"]
        colour = KIND_COLOURS[key["kind"]]
        R = np.linspace(0.0, i["weight_l2"], 200)
        t = threshold(R, sp, i["eps"], i.get("negative", "abs"))
        ax.plot(R, 100 * t, color=colour, lw=1.6,
                label=f"{KIND_LABELS[key['kind']]}, seed {key['seed']}: t(R)")  # fmt: skip
        path = th["curve"]
        ax.plot(path["R"], 100 * np.asarray(path["rho"]), color=colour, lw=0.8, ls="--")
        ax.plot(th["R_at_rho_th"], 100 * th["rho_th"], "o", color=colour, ms=3.5)
    for _, r in at.iterrows():
        colour = KIND_COLOURS[r["kind"]]
        ax.plot([r["R"]] * 2, [100 * r["rho"], 100 * r["threshold"]], color=colour, lw=1)
        ax.plot(r["R"], 100 * r["threshold"], "o", ms=8, mec=colour, mew=1.5,
                mfc=colour if r["feasible"] else "none",
                label=f"{r['kind']}: R = {r['R']:.3g}, t = {100 * r['threshold']:.1f} %"
                f" ({'within' if r['feasible'] else 'beyond'} eps)")  # fmt: skip
    if len(at):
        ax.axhline(100 * at["rho"].iloc[0], color="k", lw=0.9, ls=":", label="fixed kept ratio")
        ax.plot([], [], color="0.4", lw=0.8, ls="--", label="pruning path (R(rho'), rho')")
        ax.plot([], [], "o", color="0.4", ms=3.5, label="rho_th: the path meets t(R)")
        ax.legend(fontsize=6.5, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    ax.set_xlim(left=0)
    ax.set_ylim(0, 100)
    ax.set_xlabel("projection distance R = ||w* - w_rho||_2")
    ax.set_ylabel("kept ratio (% of D)")
