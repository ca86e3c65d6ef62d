"""Short and degenerate runs never crash a figure or table builder (issue 28).

The inputs are what a shrunk run writes (one seed, two epochs against an early-bird window of
three, no early bird, all-zero curves, limits at the grid's edge, one experiment, one width),
built here in the format of the workflow's JSON and CSV files. Every builder must return its
figure or table, and say in a title, annotation or cell what it could not show.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

EPS = 0.05


def texts(fig: plt.Figure) -> str:
    """Every text the figure draws (titles, legends, labels, cells) and its notes unwrapped
    (:func:`prunelimit.plotting.notes`), one string."""
    fig.canvas.draw()  # the layout and the tick locators run: log axes of no data fail here
    found = [t.get_text() for t in fig.findobj(Text)]
    found += [line for t in fig.findobj(Text) for line in getattr(t, "prunelimit_notes", [])]
    plt.close(fig)
    return "\n".join(found)


def _curve(rhos, losses, accs, base_loss=0.5) -> dict:
    """A ``pruning_curve`` result (the ``l1``/``dense``/``actual`` entries of limit.json)."""
    points = [
        {"rho": r, "train_loss": v, "objective": v, "val_acc": a, "test_acc": a}
        for r, v, a in zip(rhos, losses, accs, strict=True)
    ]
    return {
        "eps": EPS,
        "unpruned": {"train_loss": base_loss, "objective": base_loss},
        "val_acc_se": 0.01,
        "curve": points,
    }


def _short_limit(seed: int = 0, edge: bool = True) -> dict:
    """limit.json of a two-epoch run: no dense network, three curve points, a flat (all-zero
    excess) curve, and the limits at the grid's top edge (nothing could be pruned)."""
    rho = 1.0 if edge else 0.5
    return {
        "seed": seed,
        "l1": _curve([0.01, 0.1, 1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]),
        "dense": None,
        "rho_loss": rho,
        "rho_objective": rho,
        "rho_acc": rho,
    }


def _short_theory(seed: int = 0, rho_th: float = 1.0) -> dict:
    """theory.json of a short run: no Lanczos prefixes, bounds down to 0."""
    return {
        "experiment": "cifar10_fc5",
        "seed": seed,
        "rho_th": rho_th,
        "rho_lower": 0.0,
        "rho_upper": 1.0,
        "R_at_rho_th": 0.0,
        "inputs": {"eps": EPS, "D": 100, "lanczos_steps": 1, "probes": 1, "lambda_max": 0.0},
    }


def _flat_spectrum() -> dict:
    """spectrum.json of a flat loss: one probe, one Ritz node at 0."""
    return {"nodes": [[0.0]], "weights": [[1.0]]}


# --- limit figures --------------------------------------------------------------------------


def test_phase_transition_with_one_seed_and_the_limit_at_the_grid_edge():
    from prunelimit.plotting.limits import phase_transition

    fig = phase_transition("cifar10_fc5", [_short_theory()], [_short_limit()])
    out = texts(fig)
    assert "1 seed" in out
    assert "grid's edge" in out


def test_spectral_density_of_a_flat_spectrum():
    from prunelimit.plotting.limits import spectral_density

    out = texts(spectral_density("cifar10_fc5", [_flat_spectrum()], [_short_theory()]))
    assert "no positive |lambda| values: linear x axis" in out
    assert "R(rho_th) = 0" in out


def test_lanczos_convergence_without_prefixes():
    from prunelimit.plotting.limits import lanczos_convergence

    out = texts(lanczos_convergence("cifar10_fc5", [_short_theory()]))
    assert "no Lanczos prefixes" in out


def test_local_model_missing():
    from prunelimit.plotting.limits import local_model

    out = texts(local_model("cifar10_fc5", [_short_theory()], [_short_limit()]))
    assert "no local model" in out


def test_theory_curves_without_a_curve_or_a_dense_network():
    from prunelimit.plotting.limit_appendix import theory_curves

    out = texts(theory_curves("cifar10_fc5", [_short_theory()], [_short_limit()]))
    assert "seed 0: no theory curve in its theory.json" in out
    assert "no positive kept-ratio values: linear x axis" in out
    assert "actual (a) loss = 100.00 %" in out


def test_hessian_row_norms_of_a_flat_loss_or_of_no_run():
    from prunelimit.plotting.limit_appendix import hessian_row_norms

    flat = {"seed": 0, "q": [0.0, 0.5], "row_l1": [0.0, 0.0], "diagonal": [0.0, 0.0],
            "magnitude": [0.0, 0.0], "samples": 4}  # fmt: skip
    out = texts(hessian_row_norms("cifar10_fc5", [flat], [_short_theory()], [_short_limit()]))
    assert "no positive row-norm values: linear y axis" in out
    assert "no positive |w| values: linear x axis" in out
    assert "no hessian_rows.json to show" in texts(hessian_row_norms("cifar10_fc5", [], [], []))


@pytest.mark.parametrize("rho", [0.0, math.nan])
def test_predicted_vs_actual_with_no_positive_limit(rho):
    from prunelimit.plotting.limits import predicted_vs_actual

    keys = ("rho_th", "rho_lower", "rho_upper", "rho_loss", "rho_objective", "rho_acc")
    record = {"experiment": "cifar10_fc5", "seed": 0, **dict.fromkeys(keys, rho)}
    out = texts(predicted_vs_actual([record]))
    assert "no positive actual-limit values: linear x axis" in out
    assert "no positive rho_th values: linear y axis" in out


def test_predicted_vs_actual_says_which_points_it_cannot_place():
    from prunelimit.plotting.limits import predicted_vs_actual

    keys = ("rho_th", "rho_lower", "rho_upper", "rho_loss", "rho_objective", "rho_acc")
    records = [
        {"experiment": "a", "seed": 0, **dict.fromkeys(keys, 0.1)},
        {"experiment": "a", "seed": 1, **dict.fromkeys(keys, 0.1), "rho_th": 0.0},
    ]
    assert "not shown" in texts(predicted_vs_actual(records))


# --- spline figures -------------------------------------------------------------------------


def _short_eb(seed: int = 0, epochs: int = 2, window: int = 3) -> tuple[dict, np.ndarray]:
    """eb.json and the distance matrix of a run shorter than the early-bird window."""
    e = list(range(epochs + 1))  # the initialisation is epoch 0
    eb = {
        "experiment": "cifar10_fc5",
        "seed": seed,
        "grid": 40,
        "threshold": 0.16,
        "window": window,
        "detected_epoch": None,
        "detected_by_threshold": {"0.16": None, "0.1": None},
        "epochs": e,
        "window_max": [None] * len(e),  # NaN in JSON: no epoch has a full window
    }
    return eb, np.zeros((len(e), len(e)))


def test_early_bird_figure_when_the_run_is_shorter_than_the_window():
    """The crash of issue 28: two epochs, a window of three, no early bird."""
    from prunelimit.plotting.spline import early_bird

    eb, dist = _short_eb()
    out = texts(early_bird("cifar10_fc5", [eb], [dist], threshold=0.16, window=3))
    assert "early bird not found in 2 epochs" in out
    assert "shorter than the window" in out


def test_early_bird_figure_with_zero_distances():
    """Codes that never change: window distances all 0 on a log axis."""
    from prunelimit.plotting.spline import early_bird

    eb, dist = _short_eb(epochs=5)
    eb["window_max"] = [None, None, None, 0.0, 0.0, 0.0]
    eb["detected_epoch"] = 3
    out = texts(early_bird("cifar10_fc5", [eb], [dist], threshold=0.16, window=3))
    assert "no positive window-distance values: linear y axis" in out
    assert "early bird at epoch 3" in out


def test_trajectory_figure_of_a_short_run_and_of_an_old_watch_file():
    """Two epochs and no early bird draw both snapshots and the curves; a watch file from before
    trajectories (zero epochs) says so instead of drawing."""
    from prunelimit.plotting.spline import trajectory
    from prunelimit.spline.trajectory import trajectory_arrays

    eb, _ = _short_eb(epochs=1)
    flags = np.zeros((2, 2, 40, 40), dtype=bool)
    flags[1, 0, 20] = True  # epoch 1: one boundary row of layer 1
    arrays = {"epochs": np.arange(2), "layer_boundaries": flags, "regions": np.array([1, 2]),
              "moved": np.array([0.0, 0.025]), "coef": np.linspace(-0.25, 1.25, 40)}  # fmt: skip
    out = texts(trajectory("cifar10_fc5", [eb], [arrays]))
    assert "epoch 0 (init)" in out and "2 regions" in out
    old = trajectory_arrays({"code_bits_per_layer": [1, 1]}, grid=40)
    assert "no partition trajectory recorded" in texts(trajectory("cifar10_fc5", [eb], [old]))


def test_eb_limit_figure_without_an_early_bird():
    from prunelimit.plotting.spline import eb_limit

    final = {
        "rho_th": 1.0,
        "rho_loss": 1.0,
        "epoch": 2,
        "actual": _curve([0.01, 1.0], [0.5, 0.5], [0.1, 0.1]),
    }
    limits = [
        {"experiment": "cifar10_fc5", "seed": 0, "eb_epoch": None, "eb": None, "final": final}
    ]
    out = texts(eb_limit("cifar10_fc5", limits))
    assert "early bird not found in 2 epochs" in out


def _regions(zero_layer: bool = True) -> pd.DataFrame:
    rows = []
    for alloc in ("bound", "uniform", "global"):
        rows.append(
            {
                "experiment": "m",
                "seed": 0,
                "rho": 0.01,
                "allocation": alloc,
                "test_acc": 0.1,
                "oneshot_test_acc": 0.1,
                "log_bound": 0.0,
                "density_0": 0.02,
                "density_1": 0.0 if zero_layer else 0.01,
                "dims": "40-8-8",
                "finetune_epochs": 0,
            }
        )
    return pd.DataFrame(rows)


def test_regions_figure_with_one_seed_one_density_and_an_empty_layer():
    from prunelimit.plotting.spline import regions

    out = texts(regions("m", _regions()))
    assert "1 seed," in out
    assert "not shown" in out  # the layer pruned to 0 cannot sit on the log axis
    assert "no region counts in regions.csv" in out  # a table from before they were counted
    counted = _regions().assign(regions=1, oneshot_regions=1)  # one region: nothing left
    out = texts(regions("m", counted))
    assert "no region counts" not in out and "linear regions on the input plane" in out
    capped = _regions().assign(regions=float("nan"), oneshot_regions=float("nan"))
    assert "more regions than the cap" in texts(regions("m", capped))  # every count above it
    some = _regions().assign(regions=[5.0, float("nan"), 7.0], oneshot_regions=float("nan"))
    assert "cap" not in texts(regions("m", some))  # the counted allocations drawn


# --- SAP figures ----------------------------------------------------------------------------


def _sap_runs(methods=("sap", "lt"), iterations: int = 1) -> pd.DataFrame:
    rows = []
    for method in methods:
        for t in range(iterations):
            rows.append(
                {
                    "method": method,
                    "scope": "global",
                    "seed": 0,
                    "iteration": t,
                    "percent": 100.0 * 0.5**t,
                    "test_acc": 0.1,
                    "pqi_trained": 0.0,
                    "pqi_pruned": 0.0,
                    "kept[fc1]": 0.5**t,
                    "kept[fc2]": 0.0,
                }
            )
    return pd.DataFrame(rows)


def test_sap_figures_with_one_seed_and_one_iteration():
    from prunelimit.plotting.sap import limit_marks, plot_accuracy, plot_layers, plot_pqi

    df = _sap_runs()
    marks = limit_marks([_short_limit()])
    assert "1 seed" in texts(plot_accuracy(df, marks, title="e"))
    assert "1 seed" in texts(plot_pqi(df, title="e"))
    assert "not shown" in texts(plot_layers(df, "sap", title="e"))  # fc2 pruned away


def test_sap_layers_figure_without_the_method():
    from prunelimit.plotting.sap import plot_layers

    assert "no sap records" in texts(plot_layers(_sap_runs(methods=("lt",)), "sap", title="e"))


# --- NTK figures ----------------------------------------------------------------------------


def _sweep(widths=(16,), ps=(0.0, 0.5), draws: int = 1) -> pd.DataFrame:
    rows = []
    theta_inf = 0.4
    for w in widths:
        for p in ps:
            for rescaled in (False, True):
                for d in range(draws):
                    limit = theta_inf if rescaled else theta_inf * (1 - p) ** 3
                    theta = limit * (1 + 0.1 / math.sqrt(w))
                    rows.append(
                        {
                            "width": w,
                            "p": p,
                            "draw": d,
                            "rescaled": rescaled,
                            "theta": theta,
                            "theta_inf": theta_inf,
                            "theta_limit": limit,
                            "abs_dev": abs(theta - theta_inf),
                            "abs_dev_limit": abs(theta - limit),
                            "ratio": theta / theta_inf,
                            "kept": 1 - p,
                        }
                    )
    return pd.DataFrame(rows)


def _gram(widths=(32,), ps=(0.0, 0.5)) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "width": w,
                "p": p,
                "draw": 0,
                "rescaled": r,
                "rel_frob_dense": 0.0 if p == 0 else 0.1,
                "rel_frob_inf": 0.0,
                "n_inputs": 8,
            }
            for w in widths
            for p in ps
            for r in (False, True)
        ]
    )


def test_ntk_figures_with_one_width_and_one_draw():
    from prunelimit.plotting.ntk import (
        plot_gram_distance,
        plot_ntk_deviation,
        plot_ntk_value,
        plot_rescaling,
        plot_width_needed,
    )

    sweep = _sweep()
    assert "1 draw" in texts(plot_ntk_value(sweep))
    assert "1 draw" in texts(plot_ntk_deviation(sweep, 0.5))
    assert "no power-law fit" in texts(plot_width_needed(sweep, 0.5))
    assert "1 draw" in texts(plot_rescaling(sweep))
    assert "not shown" in texts(plot_gram_distance(_gram()))  # distances of 0 to K_inf


def test_ntk_figures_with_a_zero_deviation():
    """A dense net (p = 0) whose kernel equals the limit: a deviation of exactly 0."""
    from prunelimit.plotting.ntk import plot_ntk_deviation, plot_width_needed

    sweep = _sweep(ps=(0.0,))
    sweep["abs_dev"] = 0.0
    assert "no positive deviation values: linear y axis" in texts(plot_ntk_deviation(sweep, 0.5))
    texts(plot_width_needed(sweep, 0.5))


# --- tables ---------------------------------------------------------------------------------


def test_limits_tables_with_one_seed_and_the_limit_at_the_grid_edge():
    from prunelimit.tables.limits import limit_records, limits_table, spectra_table

    exps = {"cifar10_fc5": {"dataset": "cifar10", "model": "fc5"}}
    records = limit_records([_short_theory()], [_short_limit()], [], exps)
    raw, fmt = limits_table(records)
    assert len(raw) == 1 and raw.loc[0, "seeds"] == 1
    assert "grid's edge" in fmt.loc[0, "note"]
    raw, fmt = spectra_table([_short_theory()])
    assert len(fmt) == 1


def test_eb_table_without_an_early_bird():
    from prunelimit.tables.spline import eb_table

    eb, _ = _short_eb()
    final = {"test_acc": 0.1, "rho_th": 1.0, "rho_loss": 1.0, "rho_acc": 1.0}
    raw, fmt = eb_table(
        [eb], [{"eb": None, "final": final}], {"cifar10_fc5": {"dataset": "c", "model": "fc5"}}
    )
    assert fmt.loc[0, "EB epoch"] == "none"
    assert fmt.loc[0, "EB theory %"] == "not found in 2 epochs"
    assert raw.loc[0, "detected"] == 0


def test_sap_tables_with_one_seed_and_one_iteration():
    from prunelimit.tables.methods import formatted, matched_levels
    from prunelimit.tables.sap import pqi_table

    df = _sap_runs().assign(experiment="e")
    raw = matched_levels(df, [80.0, 50.0])
    fmt = formatted(raw)
    assert (fmt["50 %"] == "not reached").all()
    entry = {
        "experiment": "e",
        "seed": 0,
        "networks": {
            "l1": [{"p": 0.5, "q": 1.0, "global": math.nan, "layer_mean": 0.0, "neuron_mean": 0.0}]
        },
    }
    raw, fmt = pqi_table([entry])
    assert raw.loc[0, "seeds"] == 1


def test_ntk_table_with_one_width_and_one_draw():
    from prunelimit.tables.ntk import deviation_table, sweep_summary

    raw, fmt = deviation_table(_sweep(), 0.5)
    assert len(raw) == 4
    sweep_summary(_sweep(), _gram(), 0.5)


# --- the two helpers every builder uses ----------------------------------------------------


def test_log_axis_only_with_positive_data_and_notes_what_it_cannot_show():
    from prunelimit.plotting import log_axis, notes

    fig, axes = plt.subplots(1, 3)
    assert not log_axis(axes[0], "y", [0.0, -1.0, math.nan], "loss")
    assert axes[0].get_yscale() == "linear"
    assert log_axis(axes[1], "x", [0.0, 1.0, 10.0], "rho")
    assert axes[1].get_xscale() == "log"
    assert log_axis(axes[2], "y", [1.0, 2.0])
    assert notes(fig) == [
        "1 loss value missing (not finite)",
        "no positive loss values: linear y axis",
        "1 rho value <= 0 not shown (log x axis)",
    ]
    plt.close(fig)


def test_grid_edge():
    from prunelimit.tables import grid_edge

    assert grid_edge({"loss": 0.5, "acc": 0.2}, 0.01) == ""
    assert grid_edge({"loss": 1.0}, 0.01) == (
        "limit at the grid's edge: loss at 100 % (no pruned network met the criterion)"
    )
    assert "acc at the smallest ratio searched, 1 %" in grid_edge({"acc": 0.01}, 0.01)
