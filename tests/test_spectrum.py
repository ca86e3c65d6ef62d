import warnings

import numpy as np
import pytest
import torch

from prunelimit.curvature.operator import HessianOperator
from prunelimit.curvature.spectrum import (
    Lanczos,
    estimate_spectrum,
    lanczos,
    prefix,
    rademacher,
    resolution,
    ritz,
    spectral_summary,
)
from prunelimit.models.registry import build_model


def _known_matrix(D: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    lam = np.concatenate(
        [10 ** rng.uniform(-3, 1, D - D // 5), -(10 ** rng.uniform(-3, 0, D // 5))]
    )
    q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    return torch.from_numpy((q * lam) @ q.T).float(), lam


def test_slq_recovers_trace_of_a_function_of_a_known_matrix():
    """tr f(H) within 3-6 % (f the statistical-dimension integrand, smooth on the spectrum's scale:
    2 eps / R^2 not far below the spread of the eigenvalues), |H| trace within 5 %.

    When 2 eps / R^2 is far below the eigenvalue spacing near 0, f is a spike at 0 that m << D
    Gauss nodes cannot resolve (errors of +-100 % seen at m = 60..200 for D = 400); see
    docs/theory.md. At m = D the quadrature is exact (next test)."""
    D = 400
    H, lam = _known_matrix(D)
    v0 = rademacher(32, D, torch.Generator().manual_seed(0))
    alpha, beta, size = lanczos(lambda V: V @ H.T, v0, steps=60)
    nodes, weights = ritz(alpha, beta, size)
    for R2, eps, tol in [(1.0, 0.1, 0.03), (10.0, 0.5, 0.06)]:  # 2 eps / R^2 = 0.2, 0.1
        f = lambda t, R2=R2, eps=eps: 2 * eps / (2 * eps + R2 * np.abs(t))  # noqa: E731
        exact = f(lam).sum()
        est = D * (weights * f(nodes)).sum(1).mean()
        assert abs(est - exact) / exact < tol
    s = spectral_summary(nodes, weights, D)
    assert abs(s["abs_trace"] - np.abs(lam).sum()) / np.abs(lam).sum() < 0.05
    assert abs(s["lambda_max"] - lam.max()) / lam.max() < 1e-3  # extreme Ritz values converge
    assert abs(s["negative_mass"] - 0.2) < 0.05


def test_lanczos_is_exact_when_steps_exhaust_the_space():
    D = 30
    H, lam = _known_matrix(D, seed=1)
    v0 = rademacher(4, D, torch.Generator().manual_seed(1)).double()
    alpha, beta, size = lanczos(lambda V: V @ H.double().T, v0, steps=D)
    nodes, weights = ritz(alpha, beta, size)
    assert np.allclose(np.sort(nodes[0, : size[0]]), np.sort(lam), atol=1e-6)
    f = lambda t: 0.02 / (0.02 + 100 * np.abs(t))  # noqa: E731 - the spiky regime, now exact
    quad = (weights * f(nodes)).sum(1)
    ev, U = np.linalg.eigh(H.double().numpy())
    exact = np.array([(f(ev) * (U.T @ v) ** 2).sum() for v in v0.numpy()])
    assert np.allclose(quad, exact, rtol=1e-6)


def test_krylov_bases_stay_orthonormal_on_an_ill_conditioned_matrix():
    """Full reorthogonalisation keeps every probe's basis orthonormal to float32 precision over
    many steps, with eigenvalues over nine decades (plain Lanczos loses orthogonality here and
    repeats the top Ritz values)."""
    D, m = 600, 200
    rng = np.random.default_rng(2)
    lam = np.concatenate([np.logspace(-6, 3, D - 100), -np.logspace(-6, -1, 100)])
    q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    H = torch.from_numpy((q * lam) @ q.T).float()
    seen = []

    def matvec(V):
        seen.append(V.clone())
        return V @ H.T

    alpha, beta, size = lanczos(matvec, rademacher(3, D, torch.Generator().manual_seed(2)), m)
    assert (size == m).all()
    Q = torch.stack(seen, 1).double()  # (k, m, D): the vectors Lanczos applied H to
    gram = Q @ Q.transpose(1, 2)
    assert (gram - torch.eye(m, dtype=torch.float64)).abs().max() < 1e-5
    nodes, _ = ritz(alpha, beta, size)
    top = np.sort(nodes[0])[::-1]
    assert abs(top[0] - lam.max()) / lam.max() < 1e-5
    assert abs(top[1] - np.sort(lam)[-2]) / lam.max() < 1e-3  # no spurious copy of the top value


@pytest.mark.slow
def test_lanczos_vectors_stay_unit_length_at_millions_of_weights():
    """At D = 3M the float32 run keeps every Lanczos vector of unit length to 1e-6 and its
    coefficients within 1e-5 (relative) of a float64 run on the same operator. ``Tensor.norm``
    put the vectors 3e-3 off unit length here; with accurate norms but BLAS ``torch.dot`` in
    the reorthogonalisation the coefficients were still 6e-5 off."""
    D = 3_000_000
    g = torch.Generator().manual_seed(0)
    diag = torch.rand(D, generator=g, dtype=torch.float64) * 2 - 0.2  # a spectrum in [-0.2, 1.8]
    diag[:4] = torch.tensor([50.0, 20.0, -3.0, 5.0], dtype=torch.float64)  # and outliers
    v0 = rademacher(1, D, torch.Generator().manual_seed(1))
    run32 = Lanczos(lambda V: V * diag.float(), v0)
    run32.extend(24)
    run64 = Lanczos(lambda V: V * diag, v0.double())
    run64.extend(24)
    for q in [*run32.basis, run32._q]:
        assert (q.double() ** 2).sum(1).sqrt().sub(1).abs().max() < 1e-6
    (a32, b32, _), (a64, b64, _) = run32.coefficients(), run64.coefficients()
    assert np.abs(a32 - a64).max() < 1e-5 * np.abs(a64).max()
    assert np.abs(b32 - b64).max() < 1e-5 * np.abs(b64).max()


def test_summary_carries_standard_errors_and_the_near_zero_mass():
    nodes = np.array([[2.0, 1e-4, -1.0], [2.0, -1e-4, 1.0]])
    weights = np.array([[0.2, 0.5, 0.3], [0.3, 0.4, 0.3]])
    s = spectral_summary(nodes, weights, D=10)
    per_probe = 10 * (weights * nodes).sum(1)  # 1.0005 and 8.9996
    assert s["trace"] == pytest.approx(per_probe.mean())
    assert s["trace_se"] == pytest.approx(abs(per_probe[0] - per_probe[1]) / 2)  # ddof 1
    assert s["near_zero_tol"] == pytest.approx(2e-3)  # 1e-3 of the largest |theta|
    assert s["near_zero_mass"] == pytest.approx(0.45)  # the +-1e-4 nodes, whatever their sign
    assert s["negative_mass"] == pytest.approx((0.3 + 0.4) / 2)
    assert np.isnan(spectral_summary(nodes[:1], weights[:1], D=10)["trace_se"])


def test_resolution_compares_the_half_and_full_lanczos_runs():
    """The verdicts are the summary at m/2 and m steps of the same probes; a spectrum that the
    Krylov space exhausts before m/2 steps is resolved, a large cluster of +-1e-6 eigenvalues
    seen by few steps is not (its one Ritz node moves with m)."""
    D = 50
    exact = np.repeat([-1.0, 0.5, 1.0, 2.0, 4.0], 10)  # 5 distinct: exhausted after 5 steps
    v0 = rademacher(2, D, torch.Generator().manual_seed(0)).double()
    diag = torch.from_numpy(exact)
    alpha, beta, size = lanczos(lambda V: V * diag, v0, steps=12)
    res = resolution(alpha, beta, size, D)
    assert all(r["resolved"] for r in res.values())
    assert res["negative_mass"]["full"] == pytest.approx(0.2, abs=0.2)  # 2 probes' estimate
    rng = np.random.default_rng(0)
    D = 2000
    cluster = rng.choice([-1e-6, 1e-6], size=1600) * rng.uniform(0.5, 1.5, 1600)
    diag = torch.from_numpy(np.concatenate([cluster, rng.uniform(0.5, 2.0, 400)]))
    v0 = rademacher(2, D, torch.Generator().manual_seed(1)).double()
    alpha, beta, size = lanczos(lambda V: V * diag, v0, steps=40)
    res = resolution(alpha, beta, size, D)  # negative mass 0.62 at 20 steps, 0.29 at 40
    for j, key in ((20, "half"), (40, "full")):
        s = spectral_summary(*ritz(*prefix(alpha, beta, size, j)), D)
        assert res["negative_mass"][key] == pytest.approx(s["negative_mass"])
    for r in res.values():
        assert r["resolved"] == (r["change"] <= r["tol"])
    assert not res["negative_mass"]["resolved"]
    assert res["abs_trace"]["resolved"]  # the cluster's |theta| is tiny either way


def test_hessian_benchmark_entry_point(mnist1d_path, capsys):
    from prunelimit.bench.hessian import main

    res = main(
        ["--model", "mlp", "--widths", "16", "--data", str(mnist1d_path), "--samples", "64",
         "--batch-size", "32", "--steps", "4", "--probes", "2", "--repeats", "1",
         "--device", "cpu"]
    )  # fmt: skip
    assert res["D"] == 40 * 16 + 16 * 10
    # exact operation counts: jvp of the gradient is 3 gradients; linearised at most 2 (the
    # first layer's tangent costs what its gradient does), below pyhessian's double backward
    assert res["hvp_flops_over_gradient"] == pytest.approx(3.0, rel=1e-6)
    lin, py = res["hvp_linearized_flops_over_gradient"], res["pyhessian_hvp_flops_over_gradient"]
    assert 1.0 < lin <= 2.0 < py < 3.0
    assert res["slq_speedup_flop_ceiling"] == pytest.approx(py / lin)
    assert "FLOP ceiling" in capsys.readouterr().out


@pytest.fixture(scope="module")
def small_problem():
    torch.manual_seed(0)
    model = build_model("mlp", (1, 10), 3, seed=0, widths=(12, 8))
    x, y = torch.randn(200, 1, 10), torch.randint(0, 3, (200,))
    return model, x, y


def test_hvp_matches_the_exact_hessian(small_problem):
    model, x, y = small_problem
    op = HessianOperator(model, x, y, batch_size=64)
    H = torch.autograd.functional.hessian(
        lambda f: op._loss(op.unflatten(f), x, y), op.flatten(op.w0)
    )
    V = torch.randn(3, op.D)
    assert torch.allclose(op.matvec(V), V @ H.T, atol=1e-5)
    assert torch.allclose(op.matvec(V[0]), H @ V[0], atol=1e-5)
    assert op.D == 10 * 12 + 12 * 8 + 8 * 3 and op.n_hvp == 4


@pytest.mark.slow
def test_engines_agree_on_a_small_mlp(small_problem):
    """Top eigenvalue within 1 %, trace within 5 % (equal settings, many probes)."""
    model, x, y = small_problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = estimate_spectrum(
            model, x, y, "builtin", steps=12, probes=400, batch_size=200, top_k=2, seed=0
        )
        b = estimate_spectrum(
            model, x, y, "pyhessian", steps=12, probes=400, batch_size=200, top_k=2, seed=0
        )
    assert abs(a["top_eigenvalues"][0] - b["top_eigenvalues"][0]) / b["top_eigenvalues"][0] < 0.01
    assert abs(a["trace"] - b["trace"]) / abs(b["trace"]) < 0.05
    assert a["nodes"].shape == b["nodes"].shape == (400, 12)
    assert np.allclose(a["weights"].sum(1), 1) and np.allclose(b["weights"].sum(1), 1, atol=1e-4)
    assert a["n_hvp"] == 400 * 12 and b["n_hvp"] >= 400 * 12
    assert all(p.requires_grad for p in model.parameters())  # pyhessian left the model as it was


def test_a_basis_held_off_the_vectors_memory_gives_the_same_limit(small_problem):
    """``basis_memory_gb`` past which Lanczos blocks go to memory-mapped files (CPU) changes
    no number: the same coefficients, bit for bit, and so the same ``rho_th``."""
    from prunelimit.limit.theory import pruning_limit
    from prunelimit.pruning import flat_prunable, sorted_magnitudes

    model, x, y = small_problem
    D = HessianOperator(model, x, y).D
    one_block = 2 * D * 4 / 1e9  # 2 probes x D float32, in GB
    runs = {
        budget: estimate_spectrum(
            model, x, y, steps=12, probes=2, batch_size=64, seed=3, basis_memory_gb=budget
        )
        for budget in (None, 3.5 * one_block, 0.0)
    }
    assert [r["basis_blocks_spilled"] for r in runs.values()] == [0, 9, 12]
    mags = sorted_magnitudes(flat_prunable(model))
    limits = []
    for r in runs.values():
        assert np.array_equal(r["alpha"], runs[None]["alpha"])
        assert np.array_equal(r["beta"], runs[None]["beta"])
        limits.append(pruning_limit(mags, r["nodes"], r["weights"], eps=0.05)["rho_th"])
    assert limits[0] == limits[1] == limits[2]
