"""LOMP beside SAP/LT/OS: the l1 network's one-shot test accuracy at the SAP levels equals an
independent magnitude pruning of the saved weights, evaluated on the test split."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from prunelimit.config.settings import TrainSettings
from prunelimit.data import DatasetSplits, Split
from prunelimit.limit.actual import pruning_curve
from prunelimit.limit.lomp import from_curve, lomp_levels, lomp_records
from prunelimit.training.loop import fit


def data() -> DatasetSplits:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(640, 12, generator=g)
    y = (x[:, :4].sum(1) > 0).long() + (x[:, 4:8].sum(1) > 0.5).long()
    meta = {"scale": 1.0, "mean": [0.0], "std": [1.0], "input_shape": [12], "num_classes": 3}
    cpu = torch.device("cpu")
    return DatasetSplits(
        Split(x[:384], y[:384], meta, cpu),
        Split(x[384:512], y[384:512], meta, cpu),
        Split(x[512:], y[512:], meta, cpu),
        meta,
    )


def net() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Linear(12, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 3)
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An l1-trained network saved as a state dict, and its actual-limit curve."""
    splits = data()
    model = net()
    fit(model, splits, TrainSettings(epochs=8, batch_size=64, lr=0.05, l1=1e-3), 0,
        log=lambda s: None)  # fmt: skip
    path = tmp_path_factory.mktemp("lomp") / "l1.pt"
    torch.save(model.state_dict(), path)
    curve = pruning_curve(model, splits, 0.05, 0.01, 8, 0.01, l1=1e-3)["curve"]
    return path, curve


def independent_accuracy(path, splits: DatasetSplits, percent: float) -> float:
    """Global magnitude pruning written from scratch: keep the round(percent/100 * D) largest
    |w| of the Linear weights (biases kept), then the test-split accuracy."""
    model = net()
    model.load_state_dict(torch.load(path))
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    flat = torch.cat([w.detach().abs().reshape(-1) for w in weights])
    keep = int(round(percent / 100 * flat.numel()))
    threshold = torch.sort(flat, descending=True).values[keep - 1]
    with torch.no_grad():
        for w in weights:
            w.mul_((w.abs() >= threshold).to(w.dtype))
    model.eval()
    with torch.no_grad():
        pred = model(splits.test.x).argmax(1)
    return float((pred == splits.test.y).double().mean())


def test_lomp_equals_independent_one_shot_pruning(saved):
    path, curve = saved
    splits = data()
    model = net()
    model.load_state_dict(torch.load(path))
    D = sum(m.weight.numel() for m in model if isinstance(m, nn.Linear))
    on_grid = 100 * sorted(curve, key=lambda r: r["rho"])[len(curve) // 2]["rho"]
    kept_on_curve = {round(r["rho"] * D) for r in curve}
    off_grid = next(
        pct for pct in (47.3, 33.3, 21.7, 63.1)
        if round(pct / 100 * D) not in kept_on_curve
    )  # fmt: skip
    records = lomp_records(model, splits, curve, [on_grid, off_grid], bracket=0.0, log=print)
    expected = {round(on_grid / 100 * D): "curve", round(off_grid / 100 * D): "evaluated"}
    assert {r["kept"]: r["source"] for r in records} == expected
    for rec in records:
        assert rec["test_acc"] == pytest.approx(
            independent_accuracy(path, splits, rec["percent"]), abs=1e-12
        ), rec
    # the model is left as it was loaded
    fresh = net()
    fresh.load_state_dict(torch.load(path))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
               fresh.state_dict().values(), strict=True))  # fmt: skip


def test_from_curve_reads_interpolates_only_when_close():
    D = 1000
    curve = [{"rho": 0.2, "test_acc": 0.5}, {"rho": 0.204, "test_acc": 0.6},
             {"rho": 0.5, "test_acc": 0.9}]  # fmt: skip
    assert from_curve(curve, 200, D) == {"test_acc": 0.5, "source": "curve"}
    mid = from_curve(curve, 202, D, bracket=0.05)
    assert mid["source"] == "interpolated" and mid["test_acc"] == pytest.approx(0.55)
    assert from_curve(curve, 202, D, bracket=0.01) is None  # 2 % apart: not close enough
    assert from_curve(curve, 300, D, bracket=0.05) is None  # 0.204 .. 0.5: far apart
    assert from_curve(curve, 600, D) is None  # not bracketed


def test_levels_are_the_table_levels_and_the_schedule():
    levels = lomp_levels([50, 20, 10], 0.2, 3)
    assert levels == sorted(levels, reverse=True)
    for v in (100, 80, 64, 51.2, 50, 20, 10):
        assert any(math.isclose(v, x) for x in levels)
    assert len(levels) == 7
