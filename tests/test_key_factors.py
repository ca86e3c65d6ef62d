"""The key factors figure: what it computes and what it draws."""

import numpy as np
import pytest
import torch

from prunelimit.limit.theory import bound_values, magnitude_scaling, pruning_limit
from prunelimit.plotting.key_factors import key_factor_rows, key_factors


def _problem(seed: int, scale: float):
    g = torch.Generator().manual_seed(seed)
    mags = (scale * torch.rand(5000, generator=g)).sort(descending=True).values
    return mags, np.array([[0.0, 0.5, 4.0 * scale]]), np.array([[0.6, 0.3, 0.1]]), 0.01


def _theory(seed: int, scale: float, experiment: str = "net", factors=()) -> dict:
    mags, nodes, weights, eps = _problem(seed, scale)
    limit = pruning_limit(mags, nodes, weights, eps)
    scaling = magnitude_scaling(mags, nodes, weights, eps, "abs", [1, *factors]) if factors else []
    return {**limit, "experiment": experiment, "seed": seed, "magnitude_scaling": scaling,
            "inputs": {"D": 5000, "eps": eps}}  # fmt: skip


def test_scaling_the_weights_by_c_is_dividing_eps_by_c_squared():
    """The theory sees the weights only through R(rho)^2 / eps: ``c |w*|`` at ``eps`` is
    ``|w*|`` at ``eps / c^2``, and a larger magnitude never prunes further."""
    mags, _, weights, eps = _problem(0, 1.0)
    nodes = np.array([[0.05, 0.5, 4.0]])  # no zero eigenvalue: the limit moves with R
    scaled = magnitude_scaling(mags, nodes, weights, eps, "abs", [1, 2, 3.5])
    assert scaled[0]["rho_th"] == pruning_limit(mags, nodes, weights, eps)["rho_th"]
    for r in scaled:
        ref = pruning_limit(mags, nodes, weights, eps / r["factor"] ** 2)
        for k in ("rho_th", "rho_lower", "rho_upper"):
            assert r[k] == pytest.approx(ref[k], abs=1 / 5000), (r["factor"], k)
    assert scaled[0]["rho_th"] < scaled[1]["rho_th"] < scaled[2]["rho_th"]
    with pytest.raises(ValueError, match="positive"):
        magnitude_scaling(mags, nodes, weights, eps, "abs", [0])


def test_the_figure_draws_the_magnitude_scaling_per_network():
    theories = [_theory(0, 1.0, factors=(2, 4)), _theory(1, 1.0, factors=(2, 4))]
    rows = key_factor_rows(theories, [])
    assert list(rows.columns[-2:]) == ["rho_th_x2", "rho_th_x4"]
    fig = key_factors(rows)
    line = fig.axes[3].lines[0]
    x, y = line.get_data()
    by_factor = [[r["rho_th"] for r in th["magnitude_scaling"]] for th in theories]
    assert np.allclose(x, [1, 2, 4])
    assert np.allclose(y, 100 * np.mean(by_factor, axis=0))  # the mean over the two seeds


def test_the_key_factor_bounds_the_theory_and_orders_the_networks():
    theories = [_theory(0, 1.0), _theory(1, 3.0)]
    limits = [{"experiment": "net", "seed": 0, "rho_loss": 0.2, "rho_objective": 0.25}]
    rows = key_factor_rows(theories, limits)
    th = theories[0]
    R2, T = th["R_at_rho_th"] ** 2, th["trace_measure"]
    assert rows.loc[0, "key_factor"] == pytest.approx(R2 * T / (2 * 0.01 * 5000))
    assert rows.loc[0, "flatness"] == pytest.approx(T / 5000)
    s = rows["key_factor"].to_numpy()
    assert np.allclose(rows["bound"], s / (1 + s))  # rho_U at R(rho_th), as the theory has it
    assert rows.loc[0, "bound"] == pytest.approx(bound_values(R2, T, 1.0, 5000, 0.01)[1])
    assert (rows["rho_th"] <= rows["bound"] + 1 / 5000).all()  # resolved to 1/D
    assert s[1] > s[0]  # sharper curvature and larger magnitudes: a larger key factor
    assert np.isnan(rows.loc[1, "rho_loss"])  # no limit.json for seed 1: drawn as missing


def test_the_figure_draws_the_rows():
    rows = key_factor_rows([_theory(0, 1.0), _theory(1, 3.0)], [])
    fig = key_factors(rows)
    right = fig.axes[2]
    theory = right.collections[0].get_offsets()  # first experiment, first limit: rho_th
    assert np.allclose(theory[:, 0], rows["key_factor"]) and np.allclose(
        theory[:, 1], 100 * rows["rho_th"]
    )
    x, y = right.lines[0].get_data()
    assert np.allclose(y, 100 * x / (1 + x))


def test_each_kind_takes_its_own_actual_limit():
    """The dense and l2 networks' theories (``kind``) take their limits from their own curves
    in ``limit.json``, the l1 network from its headline; each kind is one network drawn."""
    theories = [_theory(0, 1.0), {**_theory(0, 2.0), "kind": "l2"}]
    limits = [{"experiment": "net", "seed": 0, "rho_loss": 0.2, "rho_objective": 0.25,
               "l2": {"rho_loss": 0.4, "rho_objective": 0.4}}]  # fmt: skip
    rows = key_factor_rows(theories, limits)
    assert list(rows["kind"]) == ["l1", "l2"]
    assert list(rows["rho_loss"]) == [0.2, 0.4] and list(rows["rho_objective"]) == [0.25, 0.4]
    fig = key_factors(rows)
    labels = fig.axes[2].get_legend_handles_labels()[1]
    assert "net l1: theory rho_th" in labels and "net l2: theory rho_th" in labels
