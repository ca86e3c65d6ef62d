"""The architectures of the registry: an MLP (FC5, FC12), AlexNet, VGG (BN), ResNet (CIFAR stems).

Every network takes ``input_shape`` (channels first, without the batch dimension) and
``num_classes`` from the dataset. Convolutional models are dimension-generic: a 1-D input
``(C, L)`` (MNIST-1D) gets ``Conv1d`` layers, an image ``(C, H, W)`` gets ``Conv2d``; both end in
adaptive pooling so any input size that survives the strides works.

Initialisation (as the public code of the pruning-limit paper): Kaiming-normal (fan-in, ReLU
gain) for Linear and Conv weights, zero biases, BatchNorm weight 1 and bias 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class AdaptiveMean(nn.Module):
    """Adaptive average pooling to ``size`` per spatial dimension, computed as means over the
    same windows as ``nn.AdaptiveAvgPool{1,2}d`` (``[floor(i L / s), ceil((i + 1) L / s))``):
    the same function, but its backward is plain slicing and sums, deterministic on CUDA, where
    the adaptive pooling kernels' backward is not. No parameters: state dicts are unchanged."""

    def __init__(self, size: int | Sequence[int]):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nd = x.dim() - 2
        sizes = (self.size,) * nd if isinstance(self.size, int) else tuple(self.size)
        for d, s in enumerate(sizes):
            dim, length = 2 + d, x.shape[2 + d]
            if s == 1:
                x = x.mean(dim, keepdim=True)
                continue
            parts = [
                x.narrow(dim, (i * length) // s, -(-(i + 1) * length // s) - (i * length) // s)
                for i in range(s)
            ]
            x = torch.cat([p.mean(dim, keepdim=True) for p in parts], dim)
        return x


def _layers(nd: int) -> tuple[type, type, type, type]:
    if nd == 1:
        return nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, AdaptiveMean
    if nd == 2:
        return nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, AdaptiveMean
    raise ValueError(f"convolutional models need inputs (C, L) or (C, H, W); got {nd + 1}-D")


def _pool_if_large(pool: type, size: int) -> nn.Module:
    """Max-pool by 2 only while the spatial size allows it (tiny inputs keep their size)."""
    return pool(2, 2) if size >= 2 else nn.Identity()


def init_weights(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model


class MLP(nn.Module):
    """Flatten, then Linear-ReLU per hidden width, then a Linear classifier."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, widths: Sequence[int]):
        super().__init__()
        dims = [math.prod(input_shape), *widths]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(dims[-1], num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AlexNet(nn.Module):
    def __init__(self, input_shape: Sequence[int], num_classes: int, hidden: int = 4096):
        super().__init__()
        nd = len(input_shape) - 1
        conv, _, pool, apool = _layers(nd)
        size = min(input_shape[1:])
        feats: list[nn.Module] = []
        chans = [input_shape[0], 64, 192, 384, 256, 256]
        for i, (a, b) in enumerate(zip(chans[:-1], chans[1:], strict=True)):
            feats += [conv(a, b, 3, padding=1), nn.ReLU()]
            if i in (0, 1, 4):
                feats.append(_pool_if_large(pool, size))
                size //= 2 if size >= 2 else 1
        feats.append(apool((2,) * nd))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * 2**nd, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class VGG(nn.Module):
    """VGG with BatchNorm; one Linear classifier on the globally pooled 512 channels."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, cfg=VGG16_CFG):
        super().__init__()
        nd = len(input_shape) - 1
        conv, bn, pool, apool = _layers(nd)
        size = min(input_shape[1:])
        layers: list[nn.Module] = []
        c = input_shape[0]
        for v in cfg:
            if v == "M":
                layers.append(_pool_if_large(pool, size))
                size = size // 2 if size >= 2 else size
            else:
                layers += [conv(c, v, 3, padding=1, bias=False), bn(v), nn.ReLU()]
                c = v
        layers.append(apool(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, nd: int, cin: int, planes: int, stride: int):
        super().__init__()
        conv, bn, _, _ = _layers(nd)
        self.body = nn.Sequential(
            conv(cin, planes, 3, stride, 1, bias=False),
            bn(planes),
            nn.ReLU(),
            conv(planes, planes, 3, 1, 1, bias=False),
            bn(planes),
        )
        self.shortcut = _shortcut(nd, cin, planes * self.expansion, stride)
        self.relu = nn.ReLU()  # a module, so that partition codes see it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, nd: int, cin: int, planes: int, stride: int):
        super().__init__()
        conv, bn, _, _ = _layers(nd)
        out = planes * self.expansion
        self.body = nn.Sequential(
            conv(cin, planes, 1, bias=False),
            bn(planes),
            nn.ReLU(),
            conv(planes, planes, 3, stride, 1, bias=False),
            bn(planes),
            nn.ReLU(),
            conv(planes, out, 1, bias=False),
            bn(out),
        )
        self.shortcut = _shortcut(nd, cin, out, stride)
        self.relu = nn.ReLU()  # a module, so that partition codes see it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def _shortcut(nd: int, cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    conv, bn, _, _ = _layers(nd)
    return nn.Sequential(conv(cin, cout, 1, stride, bias=False), bn(cout))


class ResNet(nn.Module):
    """ResNet with the CIFAR stem (3x3 conv, no max-pool)."""

    def __init__(
        self, input_shape: Sequence[int], num_classes: int, block: type, blocks: Sequence[int]
    ):
        super().__init__()
        nd = len(input_shape) - 1
        conv, bn, _, apool = _layers(nd)
        self.stem = nn.Sequential(conv(input_shape[0], 64, 3, 1, 1, bias=False), bn(64), nn.ReLU())
        stages: list[nn.Module] = []
        cin = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                stages.append(block(nd, cin, planes, stride))
                cin = planes * block.expansion
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(apool(1), nn.Flatten(), nn.Linear(cin, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))
