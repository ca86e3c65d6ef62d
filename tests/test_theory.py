import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelimit.pruning import removed_norm, sorted_magnitudes
from prunelimit.theory import (
    bound_values,
    delta_fraction,
    measure_moments,
    pruning_limit,
    smallest_feasible_count,
    theory_curve,
)


def _closed_form_uniform(c: float) -> float:
    """Root of rho = c(1-rho) / (1 + c(1-rho)) (one eigenvalue, equal magnitudes)."""
    return ((1 + 2 * c) - math.sqrt(1 + 4 * c)) / (2 * c)


def test_single_eigenvalue_equal_magnitudes_closed_form():
    D, a, lam, eps = 10_000, 0.01, 3.0, 0.05
    mags = torch.full((D,), a, dtype=torch.float64)
    nodes, weights = np.array([[lam]]), np.array([[1.0]])
    # delta(R)/D = 2 eps / (2 eps + R^2 lam)
    assert np.isclose(delta_fraction(0.7, nodes, weights, eps)[0], 2 * eps / (2 * eps + 0.7 * lam))
    out = pruning_limit(mags, nodes, weights, eps)
    expected = _closed_form_uniform(D * a**2 * lam / (2 * eps))
    assert abs(out["rho_th"] - expected) <= 1 / D
    # a one-point spectrum makes Jensen and the chord exact: both bounds equal the limit
    assert abs(out["rho_lower"] - expected) <= 1 / D and abs(out["rho_upper"] - expected) <= 1 / D


def test_two_point_spectrum_matches_brute_force():
    rng = np.random.default_rng(0)
    D, eps = 2000, 0.02
    mags = sorted_magnitudes(torch.from_numpy(rng.laplace(0, 0.05, D)))
    nodes, weights = np.array([[0.1, 20.0]]), np.array([[0.9, 0.1]])
    out = pruning_limit(mags, nodes, weights, eps)
    R2 = removed_norm(mags, torch.arange(D + 1)).numpy() ** 2
    one_minus = 1 - (0.9 * 2 * eps / (2 * eps + R2 * 0.1) + 0.1 * 2 * eps / (2 * eps + R2 * 20))
    k_brute = int(np.argmax(one_minus - np.arange(D + 1) / D <= 0))
    assert out["rho_th"] == k_brute / D
    T, lmax = D * (0.9 * 0.1 + 0.1 * 20.0), 20.0
    lo = R2 * T / (D * (2 * eps + R2 * lmax))
    up = R2 * T / (R2 * T + 2 * eps * D)
    assert out["rho_lower"] == int(np.argmax(lo - np.arange(D + 1) / D <= 0)) / D
    assert out["rho_upper"] == int(np.argmax(up - np.arange(D + 1) / D <= 0)) / D
    assert out["rho_lower"] < out["rho_th"] < out["rho_upper"]


def test_negative_eigenvalues_abs_versus_clip():
    nodes, weights = np.array([[-2.0, 1.0]]), np.array([[0.5, 0.5]])
    abs_ = delta_fraction(1.0, nodes, weights, 0.5, "abs")[0]
    clip = delta_fraction(1.0, nodes, weights, 0.5, "clip")[0]
    assert np.isclose(abs_, 0.5 * (1 / 3) + 0.5 * 0.5) and np.isclose(clip, 0.5 + 0.5 * 0.5)
    assert measure_moments(nodes, weights, 10, "abs") == (15.0, 2.0)
    assert measure_moments(nodes, weights, 10, "clip") == (5.0, 1.0)


def test_smallest_feasible_count():
    for t in (0, 1, 17, 99, 100):
        assert smallest_feasible_count(lambda k, t=t: t - k, 100) == t


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(1, 4),
    m=st.integers(1, 12),
    eps=st.floats(1e-4, 1.0),
    neg=st.sampled_from(["abs", "clip"]),
    scale=st.floats(1e-3, 1.0),
)
def test_bounds_enclose_the_limit_on_random_spectra(seed, k, m, eps, neg, scale):
    rng = np.random.default_rng(seed)
    D = 500
    mags = sorted_magnitudes(torch.from_numpy(rng.standard_t(3, D) * scale))
    nodes = rng.standard_normal((k, m)) * 10 ** rng.uniform(-2, 2, (k, m))
    weights = rng.dirichlet(np.ones(m), size=k)
    if neg == "clip" and np.all(nodes <= 0):
        nodes[0, 0] = 1.0
    out = pruning_limit(mags, nodes, weights, eps, neg)
    assert out["rho_lower"] <= out["rho_th"] <= out["rho_upper"]
    curve = theory_curve(mags, nodes, weights, eps, neg)
    lo, mid, up = (np.array(curve[c]) for c in ("rho_lower", "one_minus_delta", "rho_upper"))
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= up + 1e-12)


def test_bounds_monotone_in_radius():
    R2 = np.linspace(0, 10, 50)
    lo, up = bound_values(R2, T=100.0, lam_max=5.0, D=1000, eps=0.1)
    assert np.all(np.diff(lo) >= 0) and np.all(np.diff(up) >= 0)
