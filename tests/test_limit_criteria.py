"""The three actual-limit criteria of ``experiment.pruning_curve`` on a small trained network."""

import math

import pytest
import torch

from prunelimit.config.settings import TrainSettings
from prunelimit.limit.actual import curve_verdict, pruning_curve
from prunelimit.models.registry import build_model
from prunelimit.pruning import prunable_weights
from prunelimit.training.loop import evaluate, fit


@pytest.fixture(scope="module")
def trained(mnist1d):
    torch.manual_seed(0)
    model = build_model("mlp", mnist1d.input_shape, mnist1d.num_classes, seed=0, widths=[128])
    fit(model, mnist1d, TrainSettings(epochs=8, lr=0.05), seed=0, log=lambda _: None)
    return model.eval()


def _check_limit(out, criterion, holds):
    res = out["resolution"]  # rows by grid index (D * res = 6.4 weights per grid step here)
    rows = {round(r["rho"] / res): r for r in out["curve"]}
    k = round(out[f"rho_{criterion}"] / res)
    assert holds(rows[k])
    # the next measured point below the limit fails the criterion (one grid step below, when
    # the search bisected down to it)
    below = [kk for kk in rows if kk < k]
    assert below and not holds(rows[max(below)])
    return rows[k]


def test_objective_criterion_holds_where_the_loss_criterion_fails(trained, mnist1d):
    before = {n: w.detach().clone() for n, w in prunable_weights(trained).items()}
    eps = 0.01
    l1 = 1e-3  # removing weights lowers the l1 term by l1 * (removed l1 norm)
    out = pruning_curve(trained, mnist1d, eps, 0.001, 12, 0.0005, l1=l1)
    base = out["unpruned"]
    l1_norm = sum(float(p.detach().abs().sum()) for p in trained.parameters())
    assert base["l1_norm"] == pytest.approx(l1_norm, rel=1e-6)
    assert base["objective"] == pytest.approx(base["train_loss"] + l1 * l1_norm, rel=1e-6)
    for r in out["curve"]:  # the objective is L + l1 * (||w*||_1 - removed)
        assert r["objective"] == pytest.approx(
            r["train_loss"] + l1 * (l1_norm - r["removed_l1"]), rel=1e-6
        )
    _check_limit(out, "loss", lambda r: r["train_loss"] <= base["train_loss"] + eps)
    at = _check_limit(out, "objective", lambda r: r["objective"] <= base["objective"] + eps)
    _check_limit(out, "acc", lambda r: r["val_acc"] >= base["val_acc"])
    # the constructed case: at the objective's limit the cross-entropy criterion fails
    assert out["rho_objective"] < out["rho_loss"]
    assert at["train_loss"] > base["train_loss"] + eps
    n = len(mnist1d.val)
    assert out["val_samples"] == n
    assert out["val_acc_se"] == pytest.approx(
        math.sqrt(base["val_acc"] * (1 - base["val_acc"]) / n)
    )
    # weights restored, the test set never chose anything (it is only reported)
    for name, w in prunable_weights(trained).items():
        assert torch.equal(w.detach(), before[name])
    assert evaluate(trained, mnist1d.train)[0] == pytest.approx(base["train_loss"])


def test_without_l1_the_objective_is_the_loss(trained, mnist1d):
    out = pruning_curve(trained, mnist1d, 0.01, 0.001, 12, 0.0005, l1=0.0)
    assert out["rho_objective"] == out["rho_loss"]
    assert all(r["objective"] == r["train_loss"] for r in out["curve"])
    assert out["verdict"]["broken"] is False and out["verdict"]["reason"] == ""


def _rows(rhos, losses):
    return [{"rho": r, "train_loss": v} for r, v in zip(rhos, losses, strict=True)]


def test_a_curve_whose_unpruned_point_is_far_above_its_pruned_ones_is_broken(capsys):
    """A ResNet18 with BatchNorm statistics barely updated: 110 unpruned, ~2.3 pruned."""
    rhos = [0.001, 0.01, 0.1, 0.5, 1.0]
    resnet = curve_verdict({"train_loss": 110.0}, _rows(rhos, [2.3, 2.31, 2.29, 2.3, 110.0]), 10)
    assert resnet["broken"] and "above ln(10)" in resnet["reason"]
    assert (resnet["pruned_below"], resnet["pruned_points"]) == (4, 4)  # rho = 1 is not pruned
    # below ln(classes), yet pruning halves the loss at most points: broken too
    half = curve_verdict({"train_loss": 1.0}, _rows(rhos, [3.0, 0.3, 0.3, 0.4, 1.0]), 10)
    assert half["broken"] and "3 of 4 pruned points" in half["reason"]
    # sane curves: the loss rises as weights go, or stays within noise of the unpruned one
    rising = curve_verdict({"train_loss": 0.05}, _rows(rhos, [2.5, 1.2, 0.3, 0.06, 0.05]), 10)
    flat = curve_verdict({"train_loss": 0.05}, _rows(rhos, [2.5, 0.0499, 0.0498, 0.0497, 0.05]), 10)
    assert not rising["broken"] and not flat["broken"] and rising["reason"] == ""
    assert curve_verdict({"train_loss": float("nan")}, _rows(rhos, [1.0] * 5), 10)["broken"]


def test_automatic_eps_is_the_std_of_the_shuffled_minibatch_losses(trained, mnist1d):
    from torch.nn import functional as F

    from prunelimit.limit.prediction import loss_tolerance

    eps, mode = loss_tolerance(trained, mnist1d, "auto", 128, seed=3)
    # direct: the same seeded shuffle, batch by batch, sample standard deviation (ddof 1)
    order = torch.randperm(len(mnist1d.train), generator=torch.Generator().manual_seed(3))
    losses = []
    with torch.no_grad():
        for start in range(0, len(order), 128):
            x, y = mnist1d.train.get(order[start : start + 128])
            losses.append(float(F.cross_entropy(trained(x), y)))
    n = len(losses)
    mean = sum(losses) / n
    direct = math.sqrt(sum((v - mean) ** 2 for v in losses) / (n - 1))
    assert mode == "auto" and n == math.ceil(len(mnist1d.train) / 128)
    assert eps == pytest.approx(direct, rel=1e-6)
    assert loss_tolerance(trained, mnist1d, 0.25, 128, seed=3) == (0.25, "given")


def test_non_finite_inputs_stop_the_job(trained, mnist1d):
    import copy

    from prunelimit.curvature.spectrum import estimate_spectrum
    from prunelimit.regions.sparsity import kept_counts

    with pytest.raises(FloatingPointError, match="eps"):
        pruning_curve(trained, mnist1d, float("nan"), 0.001, 12, 0.0005)
    broken = copy.deepcopy(trained)
    with torch.no_grad():
        next(iter(prunable_weights(broken).values()))[0, 0] = float("nan")
    x, y = mnist1d.train.get(slice(0, 200))
    with pytest.raises(FloatingPointError, match="not finite"):
        estimate_spectrum(broken, x, y, steps=4, probes=1, batch_size=200)
    with pytest.raises(FloatingPointError, match="non-finite evaluation"):
        pruning_curve(broken, mnist1d, 0.01, 0.001, 12, 0.0005)
    with pytest.raises(FloatingPointError, match="densities"):
        kept_counts([0.5, float("nan")], [10, 10], 5)
