"""Node-pruned networks made physically smaller: the same outputs as the masked network, the
weights that the cost count says, for MLPs, VGG16, ResNet18 and a convnet with a Flatten."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from prunelimit.models.registry import build_model
from prunelimit.pruning import PRUNABLE_TYPES, apply_masks
from prunelimit.spline.compact import compact, step_seconds
from prunelimit.spline.nodes import node_layers, node_param_masks, output_positions, structure
from prunelimit.spline.pruning import random_scores, select_nodes


def _conv_flatten() -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(2, 6, 3, padding=1), nn.BatchNorm1d(6), nn.ReLU(),
        nn.Conv1d(6, 5, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 8, 3),
    )  # fmt: skip


CASES = {
    "mlp": (lambda: build_model("mlp", (1, 12), 4, seed=0, widths=(16, 12, 8)), (1, 12)),
    "vgg16": (lambda: build_model("vgg16", (3, 8, 8), 4, seed=0), (3, 8, 8)),
    "resnet18": (lambda: build_model("resnet18", (3, 8, 8), 4, seed=0), (3, 8, 8)),
    "conv_flatten": (_conv_flatten, (2, 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_the_compact_network_computes_the_masked_one_with_the_counted_weights(case, scope):
    build, shape = CASES[case]
    torch.manual_seed(1)
    model = build()
    for m in model.modules():  # BatchNorm statistics that are not the identity
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    layers = node_layers(model)
    kept = select_nodes(random_scores(layers, 0), 0.4, scope)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small = compact(model, layers, kept)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    apply_masks(model, node_param_masks(model, layers, kept))
    x = torch.randn(6, *shape)
    model.eval(), small.eval()
    with torch.no_grad():
        want, got = model(x), small(x)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)
    size = structure(model, layers, kept, output_positions(model, shape))
    weights = sum(m.weight.numel() for m in small.modules() if isinstance(m, PRUNABLE_TYPES))
    assert weights == size["kept_weights"] < size["weights"]
    nodes = sum(dict(small.named_modules())[ly.name].weight.shape[0] for ly in layers)
    assert nodes == size["kept_nodes"] == sum(int(k.sum()) for k in kept.values())
    small.train()
    small(x).sum().backward()  # it trains: every parameter of the right shape


def test_a_step_is_timed_on_a_copy():
    model = build_model("mlp", (1, 64), 10, seed=0, widths=(64,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(32, 1, 64), torch.randint(0, 10, (32,))
    layers = node_layers(model)
    small = compact(model, layers, {layers[0].name: torch.arange(64) < 8})
    dense, pruned = step_seconds([model, small], x, y)
    assert 0 < dense < 60 and 0 < pruned < 60
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


@pytest.mark.parametrize("case", ["mlp", "bn_convnet"])
def test_retraining_the_compact_network_is_retraining_the_masked_one(case):
    from conftest import bn_convnet, toy_splits
    from prunelimit.config.settings import TrainSettings
    from prunelimit.training.loop import fit

    build, shape = {
        "mlp": (lambda: build_model("mlp", (8,), 3, seed=2, widths=(24, 16)), (8,)),
        "bn_convnet": (bn_convnet, (1, 8)),
    }[case]
    data = toy_splits(96, shape)
    run = TrainSettings(epochs=3, batch_size=16, lr=0.05, momentum=0.9, weight_decay=1e-4,
                        schedule="cosine")  # fmt: skip
    masked = build()
    layers = node_layers(masked)
    kept = select_nodes(random_scores(layers, 0), 0.5, "layer")
    small = compact(masked, layers, kept)
    masks = node_param_masks(masked, layers, kept)
    apply_masks(masked, masks)
    fit(masked, data, run, seed=0, masks=masks, log=lambda s: None, evaluate_epochs=False)
    fit(small, data, run, seed=0, log=lambda s: None, evaluate_epochs=False)
    masked.eval(), small.eval()
    with torch.no_grad():
        want, got = masked(data.test.x), small(data.test.x)
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    assert (want - build().eval()(data.test.x)).abs().max() > 0.05  # it did train
