"""The trained weights' magnitude distribution per network, with where the limits cut it.

From the ``weight_histogram`` of each ``theory.json`` (:mod:`prunelimit.limit.weights`): one
panel per experiment, one line per kind of training (l1, and dense and l2 where the experiment
has them) with the fraction of ``D`` per 0.05-decade bin of ``|w|`` (mean over seeds, and
the standard deviation as a band), and vertical lines at the magnitude below which one-shot
pruning to the theory's ``rho_th`` (dashed) and to the actual limit under criterion (a)
(dotted) removes weights, to the bin (mean over seeds). Exact zeros are not on a log axis: their
fraction is in the legend. Below each panel (Zhang et al., Fig. 2(c) as we read it): the kept ratio
that magnitude pruning at ``|w|`` leaves, the fraction of ``D`` at or above each bin's lower
edge (mean over seeds; log scale), with the theory's ``rho_th`` (filled circle) and the actual
limit (a) (open square) at their cuts.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prunelimit.limit.weights import fractions, magnitude_at
from prunelimit.plotting import log_axis, mean_sd, note, plural, setup_style, tight_layout
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


def kept_rows(theories: list[dict]) -> pd.DataFrame:
    """One row per network and bin of :func:`histogram_rows`' range: ``log10_mag`` (the bin's
    lower edge) and ``kept``, the fraction of ``D`` with ``|w|`` at or above it (the kept ratio
    of magnitude pruning at that magnitude, to the bin; 0, above the largest, left out)."""
    rows = []
    for th in theories:
        if hist := th.get("weight_histogram"):
            kept = np.cumsum(np.asarray(hist["counts"], float)[::-1])[::-1] / hist["D"]
            key = {"experiment": th["experiment"], "seed": th["seed"], "kind": th.get("kind", "l1")}
            edges = hist["log10_edges"][:-1]
            rows += [{**key, "log10_mag": e, "kept": k} for e, k in zip(edges, kept, strict=True)]
    frame = pd.DataFrame(rows, columns=["experiment", "seed", "kind", "log10_mag", "kept"])
    span = histogram_rows(theories).groupby("experiment")["log10_mag"].agg(["min", "max"])
    lo, hi = (frame["experiment"].map(span[c]) for c in ("min", "max"))
    inside = (frame["log10_mag"] >= lo - 0.05) & (frame["log10_mag"] <= hi)
    return frame[inside & (frame["kept"] > 0)]


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
                "rho_th": th["rho_th"],
                "rho_loss": np.nan if rho_loss is None else rho_loss,
            }
        )
    columns = ["experiment", "seed", "kind", "zeros", "cut_theory", "cut_actual", "rho_th"]
    return pd.DataFrame(rows, columns=[*columns, "rho_loss"])


def weight_distributions(theories: list[dict], limits: list[dict]) -> plt.Figure:
    """The magnitude distribution of every network, one panel per experiment (module
    docstring)."""
    setup_style()
    hist, cuts = histogram_rows(theories), cut_rows(theories, limits)
    experiments = list(dict.fromkeys(hist["experiment"])) or ["(none)"]
    fig, axes = plt.subplots(
        2, len(experiments), figsize=(5.5 * len(experiments), 7.6), squeeze=False
    )
    kept = kept_rows(theories)
    for ax, exp in zip(axes[1], experiments, strict=True):
        _kept_panel(ax, kept[kept["experiment"] == exp], cuts[cuts["experiment"] == exp])
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


def _kept_panel(ax: plt.Axes, kept: pd.DataFrame, cuts: pd.DataFrame) -> None:
    """The kept ratio against the magnitude of one experiment (rows of :func:`kept_rows`),
    mean over seeds per kind, with each kind's ``rho_th`` and actual limit (a) at their cuts
    (means over seeds of :func:`cut_rows`)."""
    kinds = [k for k in KIND_COLOURS if (kept["kind"] == k).any()]
    if not kinds:
        note(ax, "no weight histogram in theory.json (rerun the theory rule)")
        return
    mean_sd(ax, kept.assign(kept=100 * kept["kept"]), "log10_mag", "kept", "kind",
            {k: KIND_COLOURS[k] for k in kinds}, {k: k for k in kinds}, errorbar=None)  # fmt: skip
    marks = (("cut_theory", "rho_th", "o", "theory rho_th"),
             ("cut_actual", "rho_loss", "s", "actual (a)"))  # fmt: skip
    for kind in kinds:
        ck, colour = cuts[cuts["kind"] == kind], KIND_COLOURS[kind]
        for cut, rho, marker, what in marks:
            ok = ck[np.isfinite(ck[cut].to_numpy(float)) & (ck[cut] > 0)]
            if len(ok):
                x, y = np.log10(ok[cut].mean()), 100 * ok[rho].mean()
                ax.plot(x, y, marker, ms=7, color=colour, mfc=colour if marker == "o" else "none",
                        label=f"{kind}: {what} = {y:.3g} %")  # fmt: skip
    log_axis(ax, "y", 100 * kept["kept"], "kept ratio")
    ax.set_xlabel("magnitude pruning at log10 |w|")
    ax.set_ylabel("kept ratio (% of D with |w| at or above)")
    ax.legend(fontsize=6, loc="center left")
