import pytest
import torch

from prunelimit.models.registry import MODELS, build_model
from prunelimit.pruning import count_prunable, prunable_names

SHAPES = {
    "mnist1d": ((1, 40), 10),
    "mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "cifar100": ((3, 32, 32), 100),
    "tinyimagenet": ((3, 64, 64), 200),
}


@pytest.mark.parametrize("dataset", list(SHAPES))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_every_model_on_every_dataset_shape(name, dataset):
    shape, classes = SHAPES[dataset]
    model = build_model(name, shape, classes, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, classes) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "dataset", "params"),
    [
        ("fc5", "cifar10", 3_885_010),  # 3072-1000-600-300-100-10
        ("mlp", "mnist1d", 110_474),  # 40-256-256-128-10 (the reference prototype)
        ("resnet18", "cifar10", 11_173_962),  # the usual CIFAR ResNet18
        ("vgg16", "cifar10", 14_728_266 - 4_224),  # CIFAR VGG16-BN without conv biases
        ("resnet50", "cifar100", 23_705_252),
    ],
)
def test_parameter_counts(name, dataset, params):
    shape, classes = SHAPES[dataset]
    assert sum(p.numel() for p in build_model(name, shape, classes).parameters()) == params


def test_prunable_weights_are_linear_and_conv_weights_only():
    mlp = build_model("mlp", (1, 40), 10, widths=(8, 4))
    assert prunable_names(mlp) == ["net.1.weight", "net.3.weight", "net.5.weight"]
    assert count_prunable(mlp) == 40 * 8 + 8 * 4 + 4 * 10
    vgg = build_model("vgg16", (3, 32, 32), 10)
    names = prunable_names(vgg)
    assert len(names) == 14 and all(n.endswith("weight") for n in names)
    params = dict(vgg.named_parameters())
    assert all(params[n].dim() > 1 for n in names)  # no BatchNorm weights
    fc12 = build_model("fc12", (3, 32, 32), 10)
    assert len(prunable_names(fc12)) == 12


def test_seeded_init_is_reproducible_and_kaiming():
    a = build_model("fc5", (3, 32, 32), 10, seed=3)
    b = build_model("fc5", (3, 32, 32), 10, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    w = a.net[1].weight
    assert abs(w.std().item() - (2 / 3072) ** 0.5) < 0.02 * (2 / 3072) ** 0.5
    assert torch.count_nonzero(a.net[1].bias) == 0


def test_unknown_model_lists_known():
    with pytest.raises(ValueError, match="known models: alexnet"):
        build_model("transformer", (1, 40), 10)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 7), (2, 3, 4, 4), (2, 3, 5, 7), (1, 2, 1)])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_adaptive_mean_equals_adaptive_average_pooling(shape, size):
    from torch import nn

    from prunelimit.models.networks import AdaptiveMean

    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    ref_pool = nn.AdaptiveAvgPool1d(size) if len(shape) == 3 else nn.AdaptiveAvgPool2d(size)
    out, ref = AdaptiveMean(size)(x), ref_pool(x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref)
    g = torch.randn_like(ref)
    (gx,) = torch.autograd.grad(out, x, g)
    (gr,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(gx, gr)
