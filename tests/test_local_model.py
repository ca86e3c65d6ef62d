"""The local model along the pruning path: closed forms on a quadratic loss, the quadratic term
against a finite-difference second derivative on a small trained network."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from prunelimit.curvature.linalg import row_dots
from prunelimit.curvature.operator import HessianOperator
from prunelimit.limit.local_model import (
    local_model_along_curve,
    pruning_directions,
    quadratic_terms,
)
from prunelimit.pruning import keep_largest


def local_terms(
    g: torch.Tensor, hvp: Callable[[torch.Tensor], torch.Tensor], U: torch.Tensor
) -> dict[str, torch.Tensor]:
    """First-order ``U g``, quadratic ``diag(U H U^T) / 2`` and their sum, per row of ``U``
    (``hvp(V)``: ``H V^T`` for a batch of rows)."""
    first = row_dots(U, g)
    quadratic = quadratic_terms(hvp, U)
    return {"first_order": first, "quadratic": quadratic, "model": first + quadratic}


def test_directions_remove_the_smallest_weights():
    w = torch.tensor([0.3, -2.0, 0.1, 1.0, -0.3])
    U = pruning_directions(w, [5, 3, 2, 0])
    assert torch.equal(U[0], torch.zeros(5))
    assert torch.equal(U[1], torch.tensor([-0.3, 0.0, -0.1, 0.0, 0.0]))  # tie: earlier first
    assert torch.equal(U[2], torch.tensor([-0.3, 0.0, -0.1, 0.0, 0.3]))
    assert torch.equal(U[3], -w)


@pytest.mark.parametrize("seed", range(10))
def test_directions_from_one_sort_equal_keep_largest(seed):
    """The directions built from one sort (magnitude_ranks) remove exactly what keep_largest
    (the package's one mask rule) removes at each kept count, ties included."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randint(-3, 4, (50,), generator=g).double() / 4  # integer multiples: many ties
    keeps = list(range(51))
    U = pruning_directions(w, keeps)
    full = torch.ones(1, 50, dtype=torch.bool)
    for keep, u in zip(keeps, U, strict=True):
        kept = keep_largest(w.view(1, -1), full, torch.tensor([keep]))[0]
        assert torch.equal(u, torch.where(kept, torch.zeros_like(w), -w))


def test_terms_equal_their_closed_forms_on_a_quadratic_loss():
    """L(w) = b.w + (w - a)^T A (w - a) / 2: gradient at w* is b + A(w* - a) (not zero), the
    Hessian is A, and L(w* + u) - L(w*) = g.u + u^T A u / 2 exactly."""
    g0 = torch.Generator().manual_seed(0)
    D = 7
    M = torch.randn(D, D, generator=g0, dtype=torch.float64)
    A = M @ M.T + torch.eye(D, dtype=torch.float64)
    a, b = torch.randn(D, generator=g0, dtype=torch.float64), torch.randn(D, generator=g0).double()
    w = torch.randn(D, generator=g0, dtype=torch.float64)

    def loss(v):
        return b @ v + 0.5 * (v - a) @ A @ (v - a)

    g = b + A @ (w - a)
    U = pruning_directions(w, [6, 4, 1])
    terms = local_terms(g, lambda V: V @ A.T, U)
    for i, u in enumerate(U):
        assert terms["first_order"][i] == pytest.approx(float(g @ u), rel=1e-12)
        assert terms["quadratic"][i] == pytest.approx(float(u @ A @ u) / 2, rel=1e-12)
        assert terms["model"][i] == pytest.approx(float(loss(w + u) - loss(w)), rel=1e-10)


def small_trained_net():
    torch.manual_seed(0)
    x = torch.randn(256, 6, dtype=torch.float64)
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).long() + (x[:, 2] > 0.8).long()
    net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.2)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return net, x, y


def test_quadratic_term_matches_a_finite_difference_second_derivative():
    """u^T H u from the package's Hessian-vector product against
    (L(w + h u) - 2 L(w) + L(w - h u)) / h^2 along the pruning direction u (float64)."""
    net, x, y = small_trained_net()
    op = HessianOperator(net, x, y, batch_size=100)
    w = op.flatten(op.w0)
    u = pruning_directions(w, [w.numel() // 3])[0]
    quad = float(local_terms(op.gradient(), op.matvec, u[None])["quadratic"][0])

    def loss_at(t: float) -> float:
        params = dict(net.named_parameters())
        with torch.no_grad():
            for name, part in op.unflatten(w + t * u).items():
                params[name].copy_(part)
            value = float(F.cross_entropy(net(x), y).detach())
            for name, part in op.unflatten(w).items():
                params[name].copy_(part)
        return value

    h = 1e-3
    fd = (loss_at(h) - 2 * loss_at(0.0) + loss_at(-h)) / h**2
    assert quad == pytest.approx(fd / 2, rel=1e-4)  # tolerance: O(h^2) truncation, float64
    assert quad > 0


def test_along_a_curve_terms_and_break_point():
    """On the small network, the recorded measured rise is the curve's, the first order is
    g.u at every point, the marked points carry the quadratic term of an independent product,
    and the break point is the largest rho where |measured - first order| > eps."""
    net, x, y = small_trained_net()
    op = HessianOperator(net, x, y)
    w = op.flatten(op.w0)
    g = op.gradient()
    base = float(F.cross_entropy(net(x), y).detach())
    params = dict(net.named_parameters())
    curve = []
    for keep in (w.numel(), w.numel() * 3 // 4, w.numel() // 2, w.numel() // 4, 0):
        u = pruning_directions(w, [keep])[0]
        with torch.no_grad():
            for name, part in op.unflatten(w + u).items():
                params[name].copy_(part)
            loss = float(F.cross_entropy(net(x), y).detach())
            for name, part in op.unflatten(w).items():
                params[name].copy_(part)
        row = {"rho": keep / w.numel(), "train_loss": loss, "removed_l1": float(u.abs().sum())}
        curve.append({**row, "objective": loss - 0.01 * row["removed_l1"]})
    eps = 0.01
    unpruned = {"train_loss": base, "objective": base}
    loc = local_model_along_curve(net, x, y, curve, unpruned, eps, 0.01, {"half": 0.55})
    assert loc["measured"] == pytest.approx([c["train_loss"] - base for c in curve], abs=1e-12)
    for c, first in zip(curve, loc["first_order"], strict=True):
        u = pruning_directions(w, [round(c["rho"] * w.numel())])[0]
        assert first == pytest.approx(float(u @ g), rel=1e-9, abs=1e-15)
    mark = loc["marks"]["half"]
    assert mark["rho"] == 0.5  # the nearest curve point
    u = pruning_directions(w, [w.numel() // 2])[0]
    assert mark["quadratic"] * eps == pytest.approx(float(u @ op.matvec(u)) / 2, rel=1e-9)
    assert mark["model"] == pytest.approx(mark["first_order"] + mark["quadratic"])
    assert mark["objective_model"] == pytest.approx(mark["model"] - u.abs().sum() * 0.01 / eps)
    errors = [abs(m - f) for m, f in zip(loc["measured"], loc["first_order"], strict=True)]
    want = max((c["rho"] for c, e in zip(curve, errors, strict=True) if e > eps), default=math.nan)
    got = loc["rho_first_order_breaks"]
    assert got == want or (math.isnan(want) and math.isnan(got))
    assert loc["stationarity"]["nonzero_weights"] > 0
