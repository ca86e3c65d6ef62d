"""A network outside the registry, for the any-network tests: a small CNN with BatchNorm and a
residual connection. The workflow imports it as ``any_network_model:SmallResNet`` from its
working directory (the test copies this file there)."""

import math

from torch import nn


class SmallResNet(nn.Module):
    def __init__(self, num_classes: int, input_shape: tuple = (3, 8, 8), width: int = 8):
        super().__init__()
        c = input_shape[0]
        self.stem = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
        )
        self.block = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        h = self.stem(x).relu()
        h = (h + self.block(h)).relu()  # the residual connection
        return self.head(h.mean(dim=(2, 3)))


class PlainMLP(nn.Module):
    """A plain ReLU MLP outside the registry: the linear-region bound applies to it."""

    def __init__(self, num_classes: int, input_shape: tuple, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(input_shape), width), nn.ReLU(),
            nn.Linear(width, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.net(x)


class NoWeights(nn.Module):
    """Nothing prunable: only a BatchNorm layer."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(num_classes)

    def forward(self, x):
        return self.bn(x.flatten(1)[:, : self.bn.num_features])


def wrong_output(num_classes: int, input_shape: tuple) -> nn.Module:
    """A factory whose network gives one output per sample, not ``num_classes`` logits."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 1))


class NotAModule:
    pass
