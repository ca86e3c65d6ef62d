"""Gradual pruning through the limit: the limits over the surviving weights of the watched
Lottery Ticket iterations, checked against independent computations on the saved weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from conftest import toy_splits
from prunelimit.config.settings import HessianSettings, LimitSettings, TheorySettings, TrainSettings
from prunelimit.curvature.operator import HessianOperator
from prunelimit.curvature.spectrum import builtin_spectrum
from prunelimit.data import DatasetSplits
from prunelimit.limit.gradual import IterationKeeper, gradual_limits
from prunelimit.limit.theory import pruning_limit
from prunelimit.models.networks import MLP
from prunelimit.pruning import (
    global_magnitude_masks,
    keep_count,
    magnitude_path,
    prunable_weights,
    sorted_magnitudes,
)
from prunelimit.sap.iterative import run_pruning
from prunelimit.sap.strategies import PruneSettings
from prunelimit.tables.gradual import gradual_table
from prunelimit.training.loop import evaluate

HESSIAN = HessianSettings(
    engine="builtin", lanczos_steps=12, probes=2, samples=None, batch_size=64, top_k=3, seed=0
)
THEORY = TheorySettings(eps=0.02, negative="abs")
LIMIT = LimitSettings(coarse_points=8, resolution=0.01, rho_min=0.01)


def tiny_data(n: int = 256) -> DatasetSplits:
    return toy_splits(n, (8,))


def build() -> nn.Module:
    torch.manual_seed(3)
    return MLP([8], 3, [16])


class Surviving(nn.Module):
    """An independent parametrisation of the pruned network: its only free parameters are the
    surviving weights (``values.<i>``, row-major within each tensor, in model order); the
    pruned entries are built as constant zeros in the forward pass."""

    def __init__(self, model: nn.Module, masks: dict[str, torch.Tensor]):
        super().__init__()
        self.model, self.masks = model, masks
        self.names = list(masks)
        self.index = [masks[n].reshape(-1).nonzero().squeeze(1) for n in self.names]
        w = prunable_weights(model)
        self.values = nn.ParameterList(
            [nn.Parameter(w[n].detach()[masks[n]].clone()) for n in self.names]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = {n: p.detach() for n, p in self.model.named_parameters()}
        for n, idx, v in zip(self.names, self.index, self.values, strict=True):
            flat = torch.zeros(params[n].numel(), dtype=v.dtype).scatter(0, idx, v)
            params[n] = flat.view_as(params[n])
        return functional_call(self.model, params, (x,))


@pytest.fixture(scope="module")
def watched():
    """A Lottery Ticket run of 3 iterations, watched at iterations 0, 2 and 3."""
    data = tiny_data()
    keeper = IterationKeeper([0, 2, 3])
    train = TrainSettings(epochs=5, batch_size=32, lr=0.1, l1=0.0)
    records = run_pruning(
        "lt", "global", build, data, train, 3, 5, PruneSettings(lt_rate=0.3), 0, observer=keeper
    )
    result = gradual_limits(build(), keeper.saved(), records, data, HESSIAN, THEORY, LIMIT, 32, 0)
    return data, keeper.saved(), records, result


def test_restricted_hessian_is_the_submatrix_of_the_full_one():
    data, model = tiny_data(), build()
    names = list(prunable_weights(model))
    D = sum(p.numel() for p in prunable_weights(model).values())
    mask = torch.rand(D, generator=torch.Generator().manual_seed(1)) < 0.6
    x, y = data.train.x, data.train.y
    full = HessianOperator(model, x, y, batch_size=100, names=names).matvec(torch.eye(D))
    sub = HessianOperator(model, x, y, batch_size=100, mask=mask)
    assert sub.D == int(mask.sum())
    restricted = sub.matvec(torch.eye(sub.D))
    torch.testing.assert_close(restricted, full[mask][:, mask], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(sub.gradient(), HessianOperator(model, x, y).gradient()[mask])


def test_magnitude_path_with_a_mask_prunes_only_among_the_survivors():
    w = {"a": torch.tensor([[5.0, 0.1, 3.0]]), "b": torch.tensor([9.0, 0.5, 2.0, 0.2])}
    mask = {"a": torch.tensor([[False, True, True]]), "b": torch.tensor([False, True, True, True])}
    path = magnitude_path(w, mask)
    kept = path(3)  # of 0.1, 3.0, 0.5, 2.0, 0.2 keep 3.0, 2.0, 0.5; never 5.0 or 9.0
    assert kept["a"].tolist() == [[False, False, True]]
    assert kept["b"].tolist() == [False, True, True, False]
    with pytest.raises(ValueError):
        path(6)


def test_the_keeper_saves_the_chosen_iterations(watched):
    _, saved, records, result = watched
    assert sorted(saved["states"]) == [0, 2, 3]
    for t, s in saved["states"].items():
        kept = sum(int(m.sum()) for m in s["masks"].values())
        assert kept == records[t]["kept"]
        w = s["state"]
        assert all(float(w[n][~m].abs().sum()) == 0 for n, m in s["masks"].items())
    assert [p["iteration"] for p in result["iterations"]] == [0, 2, 3]
    assert [s["kept"] for s in result["schedule"]] == [r["percent"] / 100 for r in records]


def test_theory_at_an_iteration_equals_an_independent_sub_network_computation(watched):
    """``rho_th`` of the gradual stage at iteration t against the limit computed on the saved
    weights of t with a network whose only parameters are the surviving weights (its own
    Hessian, no mask option), the same probes, the same eps."""
    data, saved, _, result = watched
    for point in result["iterations"]:
        s = saved["states"][point["iteration"]]
        model = build()
        model.load_state_dict(s["state"])
        sub = Surviving(model, s["masks"])
        names = [f"values.{i}" for i in range(len(sub.names))]
        op = HessianOperator(sub, data.train.x, data.train.y, batch_size=64, names=names)
        assert op.D == point["D_surviving"] < point["D"] or point["iteration"] == 0
        spec = builtin_spectrum(op, HESSIAN.lanczos_steps, HESSIAN.probes, 3, HESSIAN.seed)
        mags = sorted_magnitudes(torch.cat([v.detach() for v in sub.values]))
        ref = pruning_limit(mags, spec["nodes"], spec["weights"], THEORY.eps, THEORY.negative)
        assert abs(point["rho_th"] - ref["rho_th"]) <= 2 / op.D, (point["rho_th"], ref)
        assert point["rho_th_of_D"] == pytest.approx(point["rho_th"] * op.D / point["D"])
        assert point["kept"] == pytest.approx(op.D / point["D"])


def test_actual_limit_at_an_iteration_is_the_feasibility_edge_on_the_saved_weights(watched):
    """The actual limit (a) over the surviving weights at iteration t, checked by plain global
    magnitude pruning of the saved weights (no mask option): feasible at the limit, not one
    grid step below it (the limit is the smallest feasible point of the search)."""
    data, saved, _, result = watched
    for point in result["iterations"]:
        s = saved["states"][point["iteration"]]
        model = build()
        model.load_state_dict(s["state"])
        weights = prunable_weights(model)
        original = {n: w.detach().clone() for n, w in weights.items()}
        base = evaluate(model, data.train)[0]
        D_t = point["D_surviving"]

        def loss_at(i: int, model=model, weights=weights, original=original, D_t=D_t) -> float:
            masks = global_magnitude_masks(original, keep_count(i * LIMIT.resolution, D_t))
            with torch.no_grad():
                for n, w in weights.items():
                    w.copy_(original[n] * masks[n])
            return evaluate(model, data.train)[0]

        i = int(round(point["rho_loss"] / LIMIT.resolution))
        assert loss_at(i) <= base + point["eps"]
        if i > math.floor(LIMIT.rho_min / LIMIT.resolution) and i > 1:
            assert loss_at(i - 1) > base + point["eps"]
        assert point["rho_objective"] == point["rho_loss"]  # trained without l1
        assert point["rho_loss_of_D"] == pytest.approx(point["rho_loss"] * D_t / point["D"])


def test_the_table_reports_every_iteration(watched):
    *_, result = watched
    runs = [{"experiment": "t", "method": "lt", "scope": "global", "seed": s, **result}
            for s in (0, 1)]  # fmt: skip
    raw, formatted = gradual_table(runs)
    assert raw["iteration"].tolist() == [0, 2, 3]
    assert (raw["seeds"] == 2).all() and np.allclose(raw["rho_th_std"], 0)
    assert np.allclose(raw["rho_th_of_D_mean"], [p["rho_th_of_D"] for p in result["iterations"]])
    assert "theory % of D" in formatted and "actual (a) % of surviving" in formatted


def test_a_killed_gradual_job_resumes_after_its_last_iteration_with_the_same_numbers(
    watched, tmp_path, monkeypatch
):
    import prunelimit.limit.gradual as gradual_mod

    data, saved, records, reference = watched
    ckpt = tmp_path / "limits.ckpt"
    real, calls = gradual_mod.iteration_limits, []

    def dies_at_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(gradual_mod, "iteration_limits", dies_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        gradual_limits(build(), saved, records, data, HESSIAN, THEORY, LIMIT, 32, 0, ckpt)
    monkeypatch.setattr(gradual_mod, "iteration_limits", real)
    counted = []
    monkeypatch.setattr(
        gradual_mod, "iteration_limits", lambda *a, **k: counted.append(1) or real(*a, **k)
    )
    resumed = gradual_limits(build(), saved, records, data, HESSIAN, THEORY, LIMIT, 32, 0, ckpt)
    assert len(counted) == len(reference["iterations"]) - 1  # the first was not redone

    def numbers(result):
        return [{k: v for k, v in p.items() if k != "seconds"} for p in result["iterations"]]

    assert numbers(resumed) == numbers(reference)
