"""The gradual-pruning figure: kept fraction of the original ``D`` against the iteration.

Input: the seeds' ``gradual/limits.json`` of one experiment, already loaded. Per seed, the
schedule (the kept fraction of every iteration of the watched run) and, at the chosen
iterations, the fraction that one more one-shot step from the retrained network reaches: the
theory's (``rho_th`` of the surviving weights times their fraction) and the actual one (loss
and objective criteria). Right: the same limits as fractions of the surviving weights.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prunelimit.plotting import log_axis, mean_sd, note, setup_style, tight_layout

SERIES = (  # key, label, colour, marker, fill
    ("rho_th", "theory rho_th", "C3", "o", True),
    ("rho_loss", "actual (a) loss", "C0", "s", True),
    ("rho_objective", "actual (b) objective", "C2", "D", False),
)


def gradual_figure(name: str, runs: list[dict]) -> plt.Figure:
    """Left: kept % of ``D`` against the iteration (log y): the schedule (grey line) and the
    reachable fractions at the chosen iterations (one marker per seed, the line through the
    seeds' means: seaborn's ``lineplot``), with the one-shot limits of iteration 0 (the dense
    network) as dotted horizontals when iteration 0 is among them. Right: the limits in % of
    the surviving weights."""
    setup_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    drawn_left, drawn_right = _schedules(left, runs), []
    points = _reachable(runs)
    for key, label, color, marker, fill in SERIES:
        sub = points[points["key"] == key]
        face = color if fill else "none"
        for ax, col in ((left, "of_D"), (right, "surv")):  # every seed's point
            ax.plot(sub["iteration"], sub[col], marker, color=color, mfc=face, alpha=0.6, ms=5)
        drawn_left += sub["of_D"].tolist()
        drawn_right += sub["surv"].tolist()
        style = {"ls": "-" if fill else ":", "marker": marker, "mfc": face, "mec": color}
        lines = mean_sd(left, sub, "iteration", "of_D", "key", {key: color},  # seeds' means
                        {key: f"reachable: {label}"}, errorbar=None, **style)  # fmt: skip
        mean_sd(right, sub, "iteration", "surv", "key", {key: color}, {key: label},
                errorbar=None, **style)  # fmt: skip
        if lines and fill and 0 in set(sub["iteration"]):
            x, y = (np.asarray(v, dtype=float) for v in lines[0].get_data())
            left.axhline(float(y[x == 0][0]), color=color, ls=":", lw=0.9)
    if not any(run["iterations"] for run in runs):
        note(left, "no iteration chosen: nothing but the schedule")
    _label_panels(left, right, name, drawn_left, drawn_right)
    seeds = ", ".join(str(run["seed"]) for run in runs)
    run0 = runs[0] if runs else {"method": "?", "scope": "?"}
    fig.suptitle(f"gradual pruning ({run0['method']}, {run0['scope']} scope), seeds {seeds}")
    tight_layout(fig)
    return fig


def _schedules(ax: plt.Axes, runs: list[dict]) -> list[float]:
    """Each seed's schedule (kept % of ``D`` per iteration, grey; the first solid, the others
    dashed) on ``ax``; returns the kept percentages drawn."""
    drawn = []
    for i, run in enumerate(runs):
        sched = run["schedule"]
        x = [s["iteration"] for s in sched]
        y = [100 * s["kept"] for s in sched]
        ax.plot(x, y, color="0.5", lw=1.2, ls="-" if i == 0 else "--",
                label="schedule (kept)" if i == 0 else None)  # fmt: skip
        drawn += y
    return drawn


def _reachable(runs: list[dict]) -> pd.DataFrame:
    """One row per seed, chosen iteration and limit of :data:`SERIES` (``key``): the fraction
    one more one-shot step reaches, in % of ``D`` (``of_D``) and of the surviving weights
    (``surv``)."""
    return pd.DataFrame(
        [
            {
                "iteration": p["iteration"],
                "key": key,
                "of_D": 100 * p[f"{key}_of_D"],
                "surv": 100 * p[key],
            }
            for run in runs
            for p in run["iterations"]
            for key, *_ in SERIES
        ],  # fmt: skip
        columns=["iteration", "key", "of_D", "surv"],
    )


def _label_panels(
    left: plt.Axes, right: plt.Axes, name: str, drawn_left: list, drawn_right: list
) -> None:
    """Axes, titles and legends of :func:`gradual_figure`'s panels (log y on the left over the
    percentages ``drawn_left``; the right from 0 over ``drawn_right`` and 100)."""
    log_axis(left, "y", drawn_left, "kept")
    left.set_xlabel("pruning iteration t (Lottery Ticket, rewind, retrain)")
    left.set_ylabel("kept % of the original D")
    left.set_title(f"{name}: schedule and what one more one-shot step reaches")
    left.legend(fontsize=8, loc="lower left")
    right.set_ylim(0, max([100.0, *drawn_right]) * 1.05)
    right.set_xlabel("pruning iteration t")
    right.set_ylabel("limit, % of the surviving weights")
    right.set_title("limits over the surviving weights")
    right.legend(fontsize=8)
