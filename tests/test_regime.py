"""The l1-regime diagnostic: drift budget, Gaussian cut, verdict on the paper's settings."""

import math

import pytest
import torch

from prunelimit.config.settings import TrainSettings
from prunelimit.limit.regime import (
    MAX_DRIFT_KEPT,
    drift_budget,
    drift_diagnostic,
    gaussian_cut_kept,
    near_zero,
    regime_diagnostic,
    verdict,
    warning,
)
from prunelimit.models.registry import build_model
from prunelimit.pruning import prunable_weights
from prunelimit.training.loop import lr_at_epoch


def _lrs(s: TrainSettings) -> list[float]:
    return [lr_at_epoch(s, e) for e in range(s.epochs)]


def _shapes(name, input_shape, classes, **kw):
    model = build_model(name, input_shape, classes, **kw)
    return {n: tuple(w.shape) for n, w in prunable_weights(model).items()}


def test_drift_of_warmup_cosine_with_momentum_equals_the_direct_sum_and_sgd():
    s = TrainSettings(epochs=30, lr=0.1, l1=1e-3, momentum=0.9, schedule="cosine", warmup_epochs=4)
    steps = 7
    direct = sum(lr_at_epoch(s, e) * s.l1 / (1 - s.momentum) for e in range(30) for _ in range(7))
    drift = drift_budget(_lrs(s), steps, s.l1, s.momentum)
    assert drift == pytest.approx(direct, rel=1e-12)
    # warm-up 0.1 * (1+2+3+4)/4 = 0.25 epoch-lr, then a cosine over 26 epochs averaging 0.05
    assert drift == pytest.approx((0.25 + 0.1 * 26 / 2 + 0.1 / 2) * 7 * 1e-2, rel=1e-9)
    # what SGD with momentum actually does to a weight that only the l1 term moves (it never
    # reaches zero): it travels the drift budget, less the momentum's start-up and the velocity
    # left in the buffer at the end (a few lr * l1 / (1 - mu))
    w = torch.nn.Parameter(torch.tensor([10.0], dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=s.lr, momentum=s.momentum)
    for e in range(s.epochs):
        for g in opt.param_groups:
            g["lr"] = lr_at_epoch(s, e)
        for _ in range(steps):
            opt.zero_grad()
            (s.l1 * w.abs().sum()).backward()
            opt.step()
    moved = 10.0 - float(w.detach())
    assert moved == pytest.approx(drift, rel=0.05)
    assert moved < drift


def test_gaussian_cut():
    assert gaussian_cut_kept(1.0, 0.0) == pytest.approx(1.0)
    assert gaussian_cut_kept(1.0, 1.959964) == pytest.approx(0.05, rel=1e-5)
    assert gaussian_cut_kept(0.1, 0.2) == pytest.approx(math.erfc(2 / math.sqrt(2)))
    d = drift_diagnostic({"a": (10, 2), "b": (30, 50)}, 0.5)  # std 1 and 0.2
    expect = (20 * gaussian_cut_kept(1.0, 0.5) + 1500 * gaussian_cut_kept(0.2, 0.5)) / 1520
    assert d["drift_kept"] == pytest.approx(expect)
    assert d["layers"]["b"]["drift_over_std"] == pytest.approx(2.5)


def test_paper_fc5_and_alexnet_in_regime_old_default_mlp_out():
    # CIFAR10, 50,000 training images, batch 128: 391 steps per epoch (the public code)
    fc5 = TrainSettings(epochs=200, lr=0.01, l1=5e-5)
    alex = TrainSettings(
        epochs=200,
        lr=0.01,
        l1=3e-5,
        warmup_epochs=5,
        schedule="multistep",
        milestones=(60, 120, 160),
        gamma=0.5,
    )
    for name, s in (("fc5", fc5), ("alexnet", alex)):
        d = regime_diagnostic(_shapes(name, (3, 32, 32), 10), _lrs(s), 391, s.l1, 0.9)
        assert d["drift_ok"] and d["drift_kept"] < MAX_DRIFT_KEPT, name
        assert d["in_regime"] is None  # the plateau is unknown from the settings alone
    assert regime_diagnostic(_shapes("fc5", (3, 32, 32), 10), _lrs(fc5), 391, 5e-5, 0.9)[
        "drift"
    ] == pytest.approx(0.391, abs=1e-3)
    # today's (c1b21a5) default mlp: MNIST-1D 3600 training samples, 29 steps per epoch
    old = TrainSettings(epochs=300, lr=0.01, l1=5e-5)
    shapes = _shapes("mlp", (1, 40), 10, widths=[256, 256, 128])
    d = regime_diagnostic(shapes, _lrs(old), 29, old.l1, 0.9, objective_plateau=True)
    assert d["drift"] == pytest.approx(0.0435, abs=1e-4)
    assert d["drift_kept"] == pytest.approx(0.645, abs=0.005)  # REFERENCE.md: 64.5 %
    assert d["in_regime"] is False and "drift budget is too small" in d["reasons"][0]
    assert "out of the regime" in warning(d)


def test_verdict_needs_the_plateau_and_near_zero_counts():
    assert verdict(0.001, True)["in_regime"] is True
    v = verdict(0.001, False)
    assert v["in_regime"] is False and "plateaued" in v["reasons"][0]
    assert warning(
        {
            **v,
            "drift": 1.0,
            "drift_kept": 0.001,
            "min_drift_over_std": 3.0,
            "max_drift_over_std": 9.0,
        }
    )
    assert warning(verdict(0.001, True)) is None
    w = [torch.tensor([0.0, 5e-4, -2e-3, 1.0]), torch.tensor([[-1e-4, 0.3]])]
    assert near_zero(w) == pytest.approx(3 / 6)


def test_stationarity_in_units_of_lambda():
    from prunelimit.limit.regime import stationarity

    lam = 0.01
    w = [torch.tensor([0.5, -0.2, 0.0, 1e-4]), torch.tensor([[0.3, 0.0]])]
    # at a minimiser: g = -lam sign(w) where w != 0, |g| <= lam where w = 0
    g = [torch.tensor([-lam, lam, 0.5 * lam, -0.9 * lam]), torch.tensor([[-lam, lam]])]
    s = stationarity(g, w, lam)
    assert s["nonzero_rms"] == pytest.approx(0.0, abs=1e-6)
    assert s["zero_violating"] == 0.0 and s["nonzero_weights"] == 3
    # off by 3 lam on one of the three non-zero weights, one of three zeros violating
    g[0][0] = 2 * lam
    g[1][0, 1] = 1.5 * lam
    s = stationarity(g, w, lam)
    assert s["nonzero_rms"] == pytest.approx(math.sqrt(9 / 3))
    assert s["nonzero_median"] == pytest.approx(0.0, abs=1e-6)
    assert s["zero_violating"] == pytest.approx(1 / 3)


def test_loss_gradient_is_the_full_batch_gradient(mnist1d):
    from torch.nn import functional as F

    from prunelimit.models.registry import build_model
    from prunelimit.training.loop import loss_gradient

    model = build_model("mlp", mnist1d.input_shape, mnist1d.num_classes, seed=0, widths=[8])
    g = loss_gradient(model, mnist1d.train, batch_size=333)
    x, y = mnist1d.train.get(slice(None))
    direct = torch.autograd.grad(F.cross_entropy(model(x), y), list(model.parameters()))
    for (name, _), d in zip(model.named_parameters(), direct, strict=True):
        torch.testing.assert_close(g[name], d, rtol=1e-4, atol=1e-6)


def test_a_collapsed_run_is_never_in_the_regime():
    from prunelimit.limit.regime import verdict

    assert verdict(0.001, True)["in_regime"] is True
    out = verdict(0.001, True, collapsed=True)
    assert out["in_regime"] is False and "collapsed" in out["reasons"][0]
