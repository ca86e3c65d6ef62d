import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prunelimit.limit.theory import (
    bound_values,
    delta_fraction,
    measure_moments,
    pruning_limit,
    smallest_feasible_count,
    theory_curve,
)
from prunelimit.pruning import removed_norm, sorted_magnitudes


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
    # the figure's crossing: above the diagonal below rho_th, on or below it from rho_th on
    rho = np.array(curve["rho"])
    assert np.all(mid[rho < out["rho_th"]] > rho[rho < out["rho_th"]])
    assert np.all(mid[rho >= out["rho_th"]] <= rho[rho >= out["rho_th"]] + 1e-12)


def test_bounds_monotone_in_radius():
    R2 = np.linspace(0, 10, 50)
    lo, up = bound_values(R2, T=100.0, lam_max=5.0, D=1000, eps=0.1)
    assert np.all(np.diff(lo) >= 0) and np.all(np.diff(up) >= 0)


def _lanczos_setup(D: int = 300, seed: int = 0):
    from prunelimit.curvature.spectrum import rademacher

    rng = np.random.default_rng(seed)
    lam = np.concatenate([10 ** rng.uniform(-5, 1, D - 30), -(10 ** rng.uniform(-5, -1, 30))])
    q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    H = torch.from_numpy((q * lam) @ q.T)
    v0 = rademacher(3, D, torch.Generator().manual_seed(seed)).double()
    mags = sorted_magnitudes(torch.from_numpy(rng.laplace(0, 0.05, D)))
    return (lambda V: V @ H.T), v0, mags


def test_rho_th_from_a_prefix_equals_an_independent_shorter_run():
    from prunelimit.curvature.spectrum import Lanczos, lanczos, ritz
    from prunelimit.limit.theory import lanczos_convergence

    matvec, v0, mags = _lanczos_setup()
    eps = 1e-3
    m = 60
    alpha, beta, size = lanczos(matvec, v0, m)
    conv = lanczos_convergence(mags, alpha, beta, size, eps, "abs", tol=0.005, points=12)
    assert conv["steps"][-1] == m and m // 2 in conv["steps"]
    for j, rho in zip(conv["steps"], conv["rho_th"], strict=True):
        if j < 5:
            continue
        short = pruning_limit(mags, *ritz(*lanczos(matvec, v0, j)), eps)["rho_th"]
        assert rho == pytest.approx(short, abs=2 / mags.numel()), j
    assert conv["change_from_half"] == pytest.approx(
        abs(conv["rho_th"][-1] - conv["rho_th"][conv["steps"].index(m // 2)])
    )
    assert conv["converged"] == (conv["change_from_half"] <= conv["tol"])
    # an extended run is the same run: its coefficients continue the shorter one's exactly
    run = Lanczos(matvec, v0)
    run.extend(20)
    a20, b20, _ = run.coefficients()
    run.extend(40)
    a60, b60, _ = run.coefficients()
    np.testing.assert_allclose(a60[:, :20], a20, rtol=0, atol=0)
    np.testing.assert_allclose(a60, alpha, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b60[:, :19], b20[:, :19], rtol=0, atol=0)


def test_auto_lanczos_stops_at_the_first_converged_block():
    from prunelimit.curvature.spectrum import builtin_spectrum
    from prunelimit.limit.theory import converged_check, lanczos_convergence

    matvec, v0, mags = _lanczos_setup(seed=1)

    class Op:  # the part of HessianOperator that builtin_spectrum uses
        D, device = mags.numel(), torch.device("cpu")

        def matvec(self, V):
            return matvec(V.double()).float()

    calls = []
    check = converged_check(mags, 1e-3, "abs", tol=0.02)

    def converged(a, b, s):
        calls.append(a.shape[1])
        return check(a, b, s)

    out = builtin_spectrum(Op(), 200, 3, 3, seed=1, converged=converged, block=10)
    m = out["alpha"].shape[1]
    assert calls == list(range(20, m + 1, 10)) and m < 200
    conv = lanczos_convergence(
        mags, out["alpha"], out["beta"], out["krylov_size"], 1e-3, "abs", tol=0.02
    )
    assert conv["converged"]  # the same verdict the run stopped on


def test_non_finite_spectrum_or_eps_fails_loudly():
    mags = torch.linspace(1, 0.01, 100, dtype=torch.float64)
    nodes, weights = np.array([[1.0, np.nan]]), np.array([[0.5, 0.5]])
    with pytest.raises(FloatingPointError, match="non-finite"):
        pruning_limit(mags, nodes, weights, 0.01)
    with pytest.raises(FloatingPointError, match="eps"):
        pruning_limit(mags, np.array([[1.0]]), np.array([[1.0]]), float("nan"))
