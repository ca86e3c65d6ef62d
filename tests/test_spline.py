"""Spline early-bird: packed codes, Hamming distances, the detection rule, hooks, the grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from prunelimit.config.settings import ExperimentSettings
from prunelimit.experiment.runs import train_experiment
from prunelimit.io import load_torch
from prunelimit.models.networks import MLP
from prunelimit.models.registry import MODELS, build_model
from prunelimit.partition.codes import (
    check_relu_modules,
    distance_matrix,
    hamming,
    pack,
    partition_bits,
)
from prunelimit.partition.plane import anchor_indices, grid_inputs
from prunelimit.spline.tickets import (
    CodeRecorder,
    detect_early_bird,
    sampled_units,
    window_max,
)


def prefix_code(counts: list[int], sizes: list[int]) -> list[np.ndarray]:
    """A code whose layer l has its first counts[l] bits set (of sizes[l])."""
    return [pack(torch.arange(n) < c) for c, n in zip(counts, sizes, strict=True)]


def test_hamming_matches_direct_count_with_padding():
    g = torch.Generator().manual_seed(0)
    sizes = [67, 130, 1]  # not multiples of 64: the padding must not count
    a = [torch.rand(n, generator=g) < 0.5 for n in sizes]
    b = [torch.rand(n, generator=g) < 0.3 for n in sizes]
    got = hamming([pack(x) for x in a], [pack(x) for x in b], sizes)
    want = [float((x != y).float().mean()) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(got, want)


def test_distance_matrix_known_values_and_detection():
    # layer 1 (100 bits): epoch e sets the first a[e] bits; layer 2 (50 bits): b[e]
    sizes = [100, 50]
    a = [0, 40, 60, 70, 75, 78, 80, 80, 80, 80]
    b = [0, 25, 30, 35, 36, 37, 38, 38, 38, 38]
    codes = [prefix_code([x, y], sizes) for x, y in zip(a, b, strict=True)]
    dist = distance_matrix(codes, sizes, block=1)  # tiny blocks exercise the accumulation
    want = np.array(
        [
            [(abs(a[i] - a[j]) / 100 + abs(b[i] - b[j]) / 50) / 2 for j in range(10)]
            for i in range(10)
        ]
    )
    np.testing.assert_allclose(dist, want)
    m = window_max(dist, 3)
    assert np.isnan(m[:3]).all()
    # m(3) = d(3,0) = (0.70 + 0.70)/2 = 0.70; m(4) = d(4,1) = (.35 + .22)/2 = .285;
    # m(5) = d(5,2) = (.18 + .14)/2 = .16 (not strictly below); m(6) = d(6,3) = (.10 + .06)/2
    np.testing.assert_allclose(m[3:7], [0.70, 0.285, 0.16, 0.08])
    assert detect_early_bird(dist, 0.16, 3) == 6  # strictly below: 0.16 itself does not fire
    assert detect_early_bird(dist, 0.1601, 3) == 5
    assert detect_early_bird(dist, 0.29, 3) == 4
    assert detect_early_bird(dist, 0.01, 3) == 9  # the code stops changing after epoch 6
    assert detect_early_bird(dist, 0.01, 1) == 7
    assert detect_early_bird(dist, 0.0, 3) is None


def test_never_settling_sequence_has_no_early_bird():
    sizes = [64, 10]
    codes = [prefix_code([64 * (e % 2), 10 * (e % 2)], sizes) for e in range(12)]
    dist = distance_matrix(codes, sizes)
    assert set(np.unique(dist)) == {0.0, 1.0}
    assert detect_early_bird(dist, 0.16, 3) is None
    assert detect_early_bird(dist, 1.0, 3) is None


def test_partition_bits_equal_direct_computation():
    torch.manual_seed(0)
    model = MLP((4,), 3, (5, 6))
    x = torch.randn(37, 4)
    bits = partition_bits(model, x, batch_size=10)  # several batches
    lin = [m for m in model.net if isinstance(m, nn.Linear)]
    h1 = x @ lin[0].weight.T + lin[0].bias
    h2 = torch.relu(h1) @ lin[1].weight.T + lin[1].bias
    assert len(bits) == 2
    assert torch.equal(bits[0], h1 > 0)
    assert torch.equal(bits[1], h2 > 0)


class _FunctionalRelu(nn.Module):
    def __init__(self, how: str):
        super().__init__()
        self.a, self.b, self.relu, self.how = nn.Linear(3, 4), nn.Linear(4, 2), nn.ReLU(), how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.a(x))
        h = {
            "torch.relu": torch.relu,
            "F.relu": nn.functional.relu,
            "Tensor.relu": torch.Tensor.relu,
            "relu_": torch.relu_,
        }[self.how](h + 1)
        return self.b(h)


@pytest.mark.parametrize("how", ["torch.relu", "F.relu", "Tensor.relu", "relu_"])
def test_a_relu_applied_as_a_function_is_refused(how):
    """Its units would be missing from the code: the hooks see nn.ReLU modules only."""
    with pytest.raises(ValueError, match="as a function .* in 1 of its 2 ReLU calls"):
        partition_bits(_FunctionalRelu(how), torch.randn(5, 3))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_relu_of_every_registry_model_is_in_its_code(name):
    """The residual blocks' ReLU after the addition is a module too: ResNet18 has 17 ReLU calls
    per forward pass (stem, 2 per basic block), ResNet50 49 (stem, 3 per bottleneck)."""
    model = build_model(name, (3, 32, 32), 10, seed=0)
    x = torch.randn(2, 3, 32, 32)
    check_relu_modules(model, x)
    calls = {"resnet18": 1 + 2 * 8, "resnet50": 1 + 3 * 16}
    if name in calls:
        assert len(partition_bits(model, x)) == calls[name]


def test_partition_bits_of_bn_network_are_bn_output_signs():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model.train()
    model(torch.randn(64, 3))  # running statistics away from their initial values
    model[1].weight.data.uniform_(-1, 1)
    x = torch.randn(20, 3)
    bits = partition_bits(model, x)
    model.eval()
    assert torch.equal(bits[0], model[1](model[0](x)) > 0)
    assert model.training is False  # restored to the mode it was in


def test_grid_inputs_corners_and_order():
    anchors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    x, coef = grid_inputs(anchors, grid=3, margin=0.0)
    np.testing.assert_allclose(coef, [0.0, 0.5, 1.0])
    assert x.shape == (9, 2)
    assert torch.equal(x[0], anchors[0])  # (a, b) = (0, 0)
    assert torch.equal(x[6], anchors[1])  # (1, 0): a is the slow index
    assert torch.equal(x[2], anchors[2])  # (0, 1)
    x, _ = grid_inputs(anchors, grid=5, margin=0.25)
    assert torch.allclose(x[0], torch.tensor([-0.25, -0.5]))


def test_anchor_indices_first_of_each_class():
    assert anchor_indices(torch.tensor([2, 0, 0, 1, 2])) == [1, 3, 0]
    with pytest.raises(ValueError):
        anchor_indices(torch.tensor([0, 0, 1]))


def test_recorder_detects_and_copies_weights():
    torch.manual_seed(0)
    model = MLP((3,), 2, (8, 8))
    x = torch.randn(50, 3)
    rec = CodeRecorder(x, threshold=1e-9, window=3)
    for epoch in range(8):
        if epoch <= 3:  # the weights change until epoch 3, then stay
            for p in model.parameters():
                p.data.normal_()
        rec(epoch, model)
        if epoch == 6:
            snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    assert rec.detected == 6 == detect_early_bird(rec.matrix(), 1e-9, 3)
    for p in model.parameters():  # later changes must not leak into the stored ticket
        p.data.zero_()
    assert all(torch.equal(rec.eb_state[k], v) for k, v in snapshot.items())
    assert len(rec.layer_steps) == 7 and rec.layer_steps[-1] == [0.0, 0.0]
    with pytest.raises(ValueError, match="consecutive"):
        rec(10, model)


def test_a_wide_layer_is_read_on_a_fixed_subset_of_its_units():
    """Past ``max_layer_bits`` the distances read a seeded subset of the units, all inputs of
    each: exactly the normalised Hamming distance over those units' columns, the same subset at
    every epoch, near the whole code's distance (an unbiased estimate of it)."""
    torch.manual_seed(0)
    x = torch.randn(40, 3)
    nets = [MLP((3,), 2, (400, 6)) for _ in range(2)]
    rec = CodeRecorder(x, threshold=0.0, window=1, max_layer_bits=40 * 100)
    for epoch, net in enumerate(nets):
        rec(epoch, net)
    kept = rec.kept_units()
    assert len(kept[0]) == 100 and kept[1] is None  # 400 units x 40 inputs > 4,000 bits
    assert (np.diff(kept[0]) > 0).all() and np.array_equal(kept[0], sampled_units(400, 40, 4000, 0))
    assert rec.sizes == [40 * 100, 40 * 6] and rec.units == [400, 6]
    bits = [partition_bits(net, x) for net in nets]
    cols = torch.from_numpy(kept[0])
    sampled = (bits[0][0][:, cols] != bits[1][0][:, cols]).double().mean().item()
    whole = (bits[0][0] != bits[1][0]).double().mean().item()
    assert rec.layer_steps[0][0] == pytest.approx(sampled, abs=1e-15)
    assert abs(sampled - whole) < 0.05 and sampled != whole
    obs = rec.observations()
    assert obs["units_per_layer"] == [400, 6] and obs["sampled_units_per_layer"] == [100, 6]


WATCH_EXP = {
    "name": "t",
    "dataset": "mnist1d",
    "model": "mlp",
    "model_args": {"widths": [16, 8]},
    "train": {"epochs": 6, "batch_size": 256, "lr": 0.05, "l1": 1e-4},
}
WATCH = {"grid": 8, "margin": 0.25, "threshold": 0.16, "window": 3}


def watched_run(data, tmp_path, tag, watch=WATCH, checkpoint=True):
    out = tmp_path / tag
    out.mkdir(exist_ok=True)
    train_experiment(
        ExperimentSettings.from_dict(WATCH_EXP),
        "l1",
        0,
        data,
        torch.device("cpu"),
        out / "l1.pt",
        out / "m.json",
        checkpoint=out / "l1.ckpt" if checkpoint else None,
        watch=watch,
        watch_out=out / "watch.pt",
    )
    return load_torch(out / "l1.pt"), load_torch(out / "watch.pt")


def test_watched_training_records_every_epoch_and_trains_the_same(mnist1d, tmp_path):
    weights, obs = watched_run(mnist1d, tmp_path, "watched")
    plain, none = watched_run(mnist1d, tmp_path, "plain", watch=None)
    assert none == {"watched": False}
    assert all(torch.equal(weights[k], plain[k]) for k in plain)  # watching changes nothing
    assert obs["epochs"] == [0, 1, 2, 3, 4, 5, 6]
    assert obs["code_bits_per_layer"] == [64 * 16, 64 * 8] and obs["points"] == 64
    dist = obs["distances"].numpy()
    assert dist.shape == (7, 7)
    np.testing.assert_allclose(dist, dist.T)
    assert (np.diag(dist) == 0).all() and (dist[0, 1:] > 0).all()
    assert obs["detected_epoch"] == detect_early_bird(dist, 0.16, 3)
    assert len(obs["test_acc"]) == 7 and obs["test_acc"][0] is None
    assert not (tmp_path / "watched" / "l1.ckpt.codes").exists()  # spool removed at the end


def test_watched_training_resumes_to_identical_codes_and_weights(mnist1d, tmp_path, monkeypatch):
    clean_w, clean = watched_run(mnist1d, tmp_path, "clean")
    real_call = CodeRecorder.__call__

    def interrupted(self, epoch, model):
        if epoch == 4:
            raise KeyboardInterrupt  # killed in epoch 4: the checkpoint holds epoch 3
        real_call(self, epoch, model)

    monkeypatch.setattr(CodeRecorder, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        watched_run(mnist1d, tmp_path, "resumed")
    assert load_torch(tmp_path / "resumed" / "l1.ckpt")["epoch"] == 3
    monkeypatch.setattr(CodeRecorder, "__call__", real_call)
    resumed_w, resumed = watched_run(mnist1d, tmp_path, "resumed")
    assert all(torch.equal(clean_w[k], resumed_w[k]) for k in clean_w)
    assert torch.equal(clean["distances"], resumed["distances"])
    for key in ("epochs", "step_distance_per_layer", "detected_epoch", "code_bits_per_layer"):
        assert clean[key] == resumed[key], key
    for key, value in clean["trajectory"].items():  # kept per epoch, restored from the checkpoint
        assert torch.equal(value, resumed["trajectory"][key]), key
    if clean["eb_state"] is not None:
        assert all(torch.equal(clean["eb_state"][k], resumed["eb_state"][k]) for k in clean_w)
