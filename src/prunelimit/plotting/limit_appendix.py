"""The limit paper's appendix figures (Zhang et al.): the theory's prediction along the
magnitude-pruning path (Fig. 5) and the Hessian rows at the magnitude thresholds (Fig. 6).

Inputs are the workflow's JSON results (``theory.json``, ``limit.json``, ``hessian_rows.json``)
already loaded as dicts; kept ratios are plotted in percent.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from prunelimit.plotting import log_axis, note, plural, setup_style, tight_layout
from prunelimit.plotting.limits import KIND_COLOURS

_CURVE_STYLES = (  # key of theory.json's curve, line style, width, alpha, label
    ("one_minus_delta", "-", 1.4, 1.0, "1 - delta(R(rho))/D"),
    ("rho_lower", ":", 0.8, 0.7, "chord bound"),
    ("rho_upper", "--", 0.8, 0.7, "Jensen bound"),
)


def theory_curves(
    name: str, theories: list[dict], limits: list[dict], kind_theories: list[dict] = ()
) -> plt.Figure:
    """The theory's prediction along the magnitude-pruning path (Zhang et al.'s "theory
    prediction"), one panel per kind (l1, dense, l2 where trained): ``1 - delta(R(rho))/D``
    and its chord and Jensen bounds (the ``curve`` of theory.json) against the kept ratio
    ``rho``, both in % of ``D``, log axes, a line per seed. The prediction is feasible where
    it lies on or below the diagonal ``rho``; its crossing is ``rho_th`` (dots). Values below
    the grid's smallest ``rho`` (the prediction reaches 0 once the removed weights are
    negligible) are drawn on the bottom edge, and a note says so. Dashed and dash-dotted:
    that kind's actual limits (a) loss and (b) objective, mean over seeds."""
    setup_style()
    by_kind = {"l1": list(theories)}
    for t in kind_theories:
        by_kind.setdefault(t.get("kind", "dense"), []).append(t)
    kinds = [k for k in KIND_COLOURS if by_kind.get(k)] or ["l1"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 5.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        _theory_panel(ax, kind, by_kind.get(kind, []), limits)
    fig.suptitle(f"{name}: the theory's prediction along the magnitude-pruning path")
    tight_layout(fig)
    return fig


def _theory_panel(ax: plt.Axes, kind: str, theories: list[dict], limits: list[dict]) -> None:
    """The panel of :func:`theory_curves` of one ``kind``: its ``theories``' curves, the
    diagonal, its actual limits, log axes and the legend below."""
    colour, runs = KIND_COLOURS[kind], []
    for t in sorted(theories, key=lambda t: t.get("seed", 0)):
        curve = t.get("curve")
        if curve and curve.get("rho"):
            runs.append((t, 100 * np.asarray(curve["rho"], dtype=float)))
        else:
            note(ax, f"seed {t.get('seed')}: no theory curve in its theory.json")
    floor = min((float(rho.min()) for _, rho in runs), default=float("nan"))
    clipped = _prediction_curves(ax, runs, floor, colour)
    if runs:
        ax.plot([floor, 100.0], [floor, 100.0], color="k", lw=0.8, label="diagonal rho")
    if clipped:
        note(ax, f"{plural(clipped, 'value')} below {floor:.2g} % drawn on the bottom edge")
    _actual_limit_lines(ax, kind, limits)
    drawn = [floor] if runs else []
    log_axis(ax, "x", drawn, "kept-ratio")
    log_axis(ax, "y", drawn, "kept-ratio")
    ax.set_xlabel("kept ratio rho (% of D)")
    ax.set_ylabel("theory: kept ratio needed (% of D)")
    ax.set_title(f"{kind} ({plural(len(runs), 'seed')})")
    if ax.get_legend_handles_labels()[0]:  # below the panel: the curves fill every corner
        ax.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))


def _prediction_curves(ax: plt.Axes, runs: list, floor: float, colour) -> int:
    """Each run's (theory, kept ratios in %) curves of :data:`_CURVE_STYLES` in % (values below
    ``floor`` on it) and its ``rho_th``; returns how many values were drawn on the floor."""
    clipped = 0
    for j, (t, rho) in enumerate(runs):
        for key, ls, lw, alpha, label in _CURVE_STYLES:
            y = 100 * np.asarray(t["curve"][key], dtype=float)
            clipped += int((y < floor).sum())
            ax.plot(rho, np.maximum(y, floor), color=colour, ls=ls, lw=lw, alpha=alpha,
                    label=label if j == 0 else None)  # fmt: skip
        ax.plot(100 * t["rho_th"], 100 * t["rho_th"], "o", color="C2", ms=5,
                label="rho_th (crossing)" if j == 0 else None)  # fmt: skip
    return clipped


def _actual_limit_lines(ax: plt.Axes, kind: str, limits: list[dict]) -> None:
    """The mean actual limits (a) loss and (b) objective of the ``kind`` network over
    ``limits`` as vertical lines; a note where it has none."""
    drawn_limits = 0
    for crit, ls, label in (("loss", "--", "(a) loss"), ("objective", "-.", "(b) objective")):
        values = [v for lim in limits if (v := _actual(lim, kind, crit)) is not None]
        if values:
            act = 100 * float(np.mean(values))
            ax.axvline(act, color="k", lw=1.0, ls=ls, label=f"actual {label} = {act:.2f} %")
            drawn_limits += 1
    if not drawn_limits:
        note(ax, f"no actual limit of the {kind} network in limit.json")


def _actual(limit: dict, kind: str, criterion: str) -> float | None:
    """The actual limit ``rho_{criterion}`` of the ``kind`` network in one limit.json; the
    l1 network's is also the file's headline (top-level) value."""
    entry = limit.get(kind) or {}
    value = entry.get(f"rho_{criterion}")
    if value is None and kind == "l1":
        value = limit.get(f"rho_{criterion}")
    return None if value is None else float(value)


def hessian_row_norms(
    name: str, rows: list[dict], theories: list[dict], limits: list[dict]
) -> plt.Figure:
    """The L1 norms of the Hessian rows of the weights at the magnitude thresholds (Zhang et
    al., appendix; :mod:`prunelimit.limit.hessian_rows`), one marker set per seed. Left:
    against the pruned fraction ``q = 1 - rho`` of the weight's rank (% of D, log y), with
    ``|H_ii|`` beside; the weights left of a vertical line are removed at that kept ratio:
    ``rho_th`` (green) and the actual limit (a) loss (dashed), means over seeds. Right: the
    same norms against the weight's magnitude ``|w_i|`` (log-log)."""
    setup_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    colour = KIND_COLOURS["l1"]
    runs = sorted(rows, key=lambda r: r.get("seed", 0))
    if not runs:
        note(axes[0], "no hessian_rows.json to show")
    markers = ("*", "o", "s", "^", "D", "v")
    norms, diags, mags = [], [], []
    for j, r in enumerate(runs):
        q = 100 * np.asarray(r["q"], dtype=float)
        l1, diag = np.asarray(r["row_l1"], float), np.abs(np.asarray(r["diagonal"], float))
        m, seed = markers[j % len(markers)], r.get("seed", j)
        axes[0].plot(q, l1, m, color=colour, ms=5, label=f"||H e_i||_1, seed {seed}")
        axes[0].plot(q, diag, m, color="0.55", ms=3, mfc="none", label=f"|H_ii|, seed {seed}")
        axes[1].plot(r["magnitude"], l1, m, color=colour, ms=5, label=f"seed {seed}")
        norms += l1.tolist()
        diags += diag.tolist()
        mags += list(r["magnitude"])
    for key, colour_, ls, label in (
        ("rho_th", "C2", "-", "rho_th"),
        ("rho_loss", "k", "--", "actual (a) loss"),
    ):
        source = theories if key == "rho_th" else limits
        values = [float(t[key]) for t in source if t.get(key) is not None]
        if values and runs:
            rho = float(np.mean(values))
            axes[0].axvline(100 * (1 - rho), color=colour_, ls=ls, lw=1.0,
                            label=f"{label}: q = {100 * (1 - rho):.2f} %")  # fmt: skip
    log_axis(axes[0], "y", norms + diags, "row-norm")
    axes[0].set_xlim(-2, 102)
    axes[0].set_xlabel("pruned fraction q at the weight's magnitude rank (% of D)")
    axes[0].set_ylabel("Hessian row of the threshold weight")
    axes[0].set_title("along the magnitude order")
    log_axis(axes[1], "x", mags, "|w|")
    log_axis(axes[1], "y", norms, "row-norm")
    axes[1].set_xlabel("|w_i| of the threshold weight")
    axes[1].set_ylabel("||H e_i||_1")
    axes[1].set_title("against the weight's magnitude")
    for ax, ncol in zip(axes, (3, 2), strict=True):  # below the panels: the markers fill them
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, ncol=ncol, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    samples = sorted({r.get("samples") for r in runs} - {None})
    fig.suptitle(
        f"{name}: L1 norms of the Hessian rows at the magnitude thresholds"
        + (f" ({', '.join(map(str, samples))} samples)" if samples else "")
    )
    tight_layout(fig)
    return fig
