"""The role of l2 regularisation (limit paper, Fig. 4 bottom): the projection distance at a fixed
kept ratio, the threshold against it, and the figure."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from prunelimit.limit.theory import delta_fraction, pruning_limit, theory_curve
from prunelimit.limit.weights import magnitude_histogram
from prunelimit.plotting import notes
from prunelimit.plotting.regularisation import (
    ratio_rows,
    regularisation_figure,
    removed_norm_at,
    threshold,
)
from prunelimit.pruning import sorted_magnitudes


def network(w, kind="l1", seed=0, experiment="e", rhos=None, eps=0.05, spectrum_seed=0):
    """(theory.json, spectrum.json) of a network with weights ``w``, as the theory rule writes
    the fields the figure reads (a random two-probe spectrum)."""
    rng = np.random.default_rng(spectrum_seed)
    nodes = rng.choice([-1, 1], (2, 12)) * 10.0 ** rng.uniform(-5, 1, (2, 12))
    weights = rng.dirichlet(np.ones(12), 2)
    mags = sorted_magnitudes(torch.as_tensor(np.asarray(w, float)))
    theory = {
        **pruning_limit(mags, nodes, weights, eps),
        "experiment": experiment,
        "seed": seed,
        "kind": kind,
        "inputs": {"D": mags.numel(), "eps": eps, "negative": "abs",
                   "weight_l2": float(mags.norm())},
        "curve": theory_curve(mags, nodes, weights, eps, rhos=rhos),
        "weight_histogram": magnitude_histogram(mags.numpy()),
    }  # fmt: skip
    return theory, {"D": mags.numel(), "kind": kind, "nodes": nodes.tolist(),
                    "weights": weights.tolist()}  # fmt: skip


def exact_R(w, rho):
    """The l2 norm of what magnitude pruning to kept ratio ``rho`` removes, by hand."""
    m = np.sort(np.abs(np.asarray(w, float)))[::-1]
    return float(np.sqrt((m[int(round(rho * len(m))) :] ** 2).sum()))


def test_R_at_a_ratio_is_the_norm_of_the_removed_weights_of_a_hand_made_vector():
    # kept 4 of 8 removes the four ones: R = 2; the curve knows only k = 2 (R^2 = 4 + 5 = 9) and
    # k = 8 (R = 0), so a linear interpolation in k would give sqrt(6) = 2.45
    w = [4.0, -3.0, 2.0, 1.0, -1.0, 1.0, 1.0, 1.0]
    th, _ = network(w, rhos=np.array([0.25, 1.0]))
    R = removed_norm_at(th, [0.0, 0.25, 0.5, 1.0])
    assert R[[0, 1, 3]] == pytest.approx([np.sqrt(34.0), 3.0, 0.0])  # the curve's own points
    assert R[2] == pytest.approx(2.0, rel=0.01)


def test_R_at_fixed_ratios_within_a_percent_over_many_decades():
    rng = np.random.default_rng(3)
    w = rng.standard_normal(20_000) * 10.0 ** rng.uniform(-6, 0, 20_000)  # l1-like spread
    th, _ = network(w)
    ratios = [0.003, 0.05, 0.1, 0.37, 0.5, 0.7, 0.9]
    exact = np.array([exact_R(w, r) for r in ratios])
    assert removed_norm_at(th, ratios) == pytest.approx(exact, rel=0.01)
    on_grid = th["curve"]["rho"][40]
    assert removed_norm_at(th, [on_grid])[0] == pytest.approx(exact_R(w, on_grid), rel=1e-9)


@pytest.mark.parametrize("negative", ["abs", "clip"])
def test_the_threshold_is_the_theorys_quadrature(negative):
    th, sp = network(np.random.default_rng(4).standard_normal(500))
    nodes, weights = np.asarray(sp["nodes"]), np.asarray(sp["weights"])
    R = np.array([0.0, 0.3, 2.0, 17.0])
    expected = 1 - delta_fraction(R**2, nodes, weights, 0.05, negative)
    assert threshold(R, sp, 0.05, negative) == pytest.approx(expected, rel=1e-12)
    if negative == "abs":  # the theory's own curve, at its distances
        curve = th["curve"]
        assert threshold(curve["R"], sp, 0.05) == pytest.approx(curve["one_minus_delta"])


def test_a_fixed_ratio_is_within_eps_from_rho_th_on():
    th, sp = network(np.random.default_rng(5).standard_normal(4000), eps=0.5)
    rho_th = th["rho_th"]
    assert 0.05 < rho_th < 0.95
    rows = ratio_rows([(th, sp)], [rho_th - 0.02, rho_th - 0.001, rho_th, rho_th + 0.02])
    assert rows["feasible"].tolist() == [False, False, True, True]
    assert rows["R"].iloc[2] == pytest.approx(th["R_at_rho_th"], rel=1e-12)
    assert rows["R"].is_monotonic_decreasing and rows["threshold"].is_monotonic_decreasing


def test_a_spectrum_of_another_network_is_refused():
    th, _ = network(np.ones(10), kind="l2")
    _, sp = network(np.ones(10), kind="dense")
    with pytest.raises(ValueError, match="not the theory's"):
        ratio_rows([(th, sp)])


def test_the_figure_draws_a_row_per_experiment_and_a_panel_per_ratio():
    rng = np.random.default_rng(6)
    nets = [
        network(rng.standard_normal(3000) * s, kind=k, experiment=e, spectrum_seed=i)
        for e in ("a", "b")
        for i, (k, s) in enumerate((("dense", 1.0), ("l2", 0.5), ("l1", 0.1)))
    ]
    fig = regularisation_figure(nets, ratios=(0.2, 0.6))
    assert len(fig.axes) == 4 and fig.axes[1].get_title() == "a: magnitude pruning to rho = 60 %"
    rows = ratio_rows(nets, (0.2, 0.6))
    ax, at = fig.axes[0], rows[(rows["experiment"] == "a") & (rows["rho"] == 0.2)]
    big = [line for line in ax.lines if line.get_marker() == "o" and line.get_markersize() == 8]
    marked = {(round(float(line.get_xdata()[0]), 6), round(float(line.get_ydata()[0]), 6))
              for line in big}  # fmt: skip
    expected = zip(at["R"], 100 * at["threshold"], strict=True)
    assert marked == {(round(r, 6), round(t, 6)) for r, t in expected}
    plt.close(fig)


def test_a_run_without_an_l2_network_still_draws():
    fig = regularisation_figure([])
    assert fig.axes and notes(fig)
    plt.close(fig)
