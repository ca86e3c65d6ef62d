"""The trained weights' magnitude distribution per network, with where the limits cut it.

From the ``weight_histogram`` of each ``theory.json`` (:mod:`prunelimit.limit.weights`): one
panel per experiment, one line per kind of training (l1, and dense and l2 where the experiment
has them) with the fraction of ``D`` per 0.05-decade bin of ``|w|`` (mean over seeds, and
the standard deviation as a band), and vertical lines at the magnitude below which one-shot
pruning to the theory's ``rho_th`` (dashed) and to the actual limit under criterion (a)
(dotted) removes weights, to the bin (mean over seeds). Exact zeros are not on a log axis: their
fraction is in the legend.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prunelimit.limit.weights import fractions, magnitude_at
from prunelimit.plotting import mean_sd, note, plural, setup_style, tight_layout
from prunelimit.plotting.limits import KIND_COLOURS  # as in the transition figure


def histogram_rows(theories: list[dict]) -> pd.DataFrame:
    """One row per network (experiment, seed, kind) and nonempty bin: ``log10_mag`` (the bin's
    centre), ``fraction`` (of ``D``); zeros are left out (see :func:`cut_rows`)."""
    rows = []
    for th in theories:
        hist = th.get("weight_histogram")
        if not hist:
            continue
        edges = np.asarray(hist["log10_edges"])
        centres, frac = (edges[:-1] + edges[1:]) / 2, fractions(hist)[1:]
        key = {"experiment": th["experiment"], "seed": th["seed"], "kind": th.get("kind", "l1")}
        rows += [{**key, "log10_mag": c, "fraction": f} for c, f in zip(centres, frac, strict=True)]
    frame = pd.DataFrame(rows, columns=["experiment", "seed", "kind", "log10_mag", "fraction"])
    # the axis spans the experiment's weights: bins below its smallest and above its largest
    # nonzero magnitude are left out
    nonzero = frame["log10_mag"].where(frame["fraction"] > 0)
    by_exp = nonzero.groupby(frame["experiment"])
    lo, hi = by_exp.transform("min"), by_exp.transform("max")
    return frame[(frame["log10_mag"] >= lo) & (frame["log10_mag"] <= hi)]


def cut_rows(theories: list[dict], limits: list[dict]) -> pd.DataFrame:
    """Per network: the fraction of exact zeros and the magnitudes where pruning to ``rho_th``
    and to the actual ``rho_loss`` cuts (:func:`~prunelimit.limit.weights.magnitude_at`; the
    l1 network's actual limit from ``limit.json``'s headline, another kind's from its block)."""
    actual = {(d["experiment"], d["seed"]): d for d in limits}
    rows = []
    for th in theories:
        hist = th.get("weight_histogram")
        if not hist:
            continue
        kind = th.get("kind", "l1")
        lim = actual.get((th["experiment"], th["seed"]), {})
        lim = lim if kind == "l1" else (lim.get(kind) or {})
        rho_loss = lim.get("rho_loss")
        rows.append(
            {
                "experiment": th["experiment"],
                "seed": th["seed"],
                "kind": kind,
                "zeros": hist["zeros"] / hist["D"],
                "cut_theory": magnitude_at(hist, th["rho_th"]),
                "cut_actual": np.nan if rho_loss is None else magnitude_at(hist, rho_loss),
            }
        )
    return pd.DataFrame(
        rows, columns=["experiment", "seed", "kind", "zeros", "cut_theory", "cut_actual"]
    )


def weight_distributions(theories: list[dict], limits: list[dict]) -> plt.Figure:
    """The magnitude distribution of every network, one panel per experiment (module
    docstring)."""
    setup_style()
    hist, cuts = histogram_rows(theories), cut_rows(theories, limits)
    experiments = list(dict.fromkeys(hist["experiment"])) or ["(none)"]
    fig, axes = plt.subplots(
        1, len(experiments), figsize=(5.5 * len(experiments), 4), squeeze=False
    )
    for ax, exp in zip(axes[0], experiments, strict=True):
        h, c = hist[hist["experiment"] == exp], cuts[cuts["experiment"] == exp]
        if h.empty:
            note(ax, "no weight histogram in theory.json (rerun the theory rule)")
            continue
        kinds = [k for k in KIND_COLOURS if (h["kind"] == k).any()]
        labels = {}
        for kind in kinds:
            ck = c[c["kind"] == kind]
            seeds = plural(ck["seed"].nunique(), "seed")
            labels[kind] = f"{kind} ({seeds}; exact zeros {100 * ck['zeros'].mean():.2g} %)"
        h = h.assign(fraction=100 * h["fraction"])
        mean_sd(ax, h, "log10_mag", "fraction", "kind", {k: KIND_COLOURS[k] for k in kinds},
                labels)  # fmt: skip
        for kind in kinds:
            ck = c[c["kind"] == kind]
            for col, ls, what in (("cut_theory", "--", "rho_th"), ("cut_actual", ":", "actual")):
                cut = ck[col].to_numpy(float)
                cut = cut[np.isfinite(cut) & (cut > 0)]
                if len(cut):
                    ax.axvline(np.log10(cut.mean()), color=KIND_COLOURS[kind], ls=ls, lw=1.2,
                               label=f"{kind}: cut at {what}")  # fmt: skip
        ax.set_xlabel("log10 |w| (0.05-decade bins)")
        ax.set_ylabel("weights per bin (% of D)")
        ax.set_title(exp)
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle("Trained weights' magnitudes, and where pruning to the limits cuts them")
    tight_layout(fig)
    return fig
