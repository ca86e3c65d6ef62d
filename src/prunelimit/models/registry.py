"""The model registry: FC5, FC12, AlexNet, VGG16 (BN), ResNet18/50 and a free MLP, by name, or
any ``nn.Module`` by import path (:mod:`prunelimit.models.import_path`).

Widths: FC5 ``1000-600-300-100`` and FC12 ``1000-900-800-750-700-650-600-500-400-200-100`` are
the reference widths. AlexNet here is the common CIFAR variant (3x3 kernels, 64-192-384-256-256
channels, two 4096-wide hidden layers); the public code's stride-4 11x11 first layer is not used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from prunelimit.models.import_path import ModelError, build_imported, check_network, is_import_path
from prunelimit.models.networks import (
    MLP,
    VGG,
    AlexNet,
    BasicBlock,
    Bottleneck,
    ResNet,
    init_weights,
)

FC5_WIDTHS = (1000, 600, 300, 100)


FC12_WIDTHS = (1000, 900, 800, 750, 700, 650, 600, 500, 400, 200, 100)


Builder = Callable[..., nn.Module]


MODELS: dict[str, Builder] = {
    "mlp": lambda s, k, widths=(256, 256, 128): MLP(s, k, widths),
    "fc5": lambda s, k: MLP(s, k, FC5_WIDTHS),
    "fc12": lambda s, k: MLP(s, k, FC12_WIDTHS),
    "alexnet": lambda s, k: AlexNet(s, k),
    "vgg16": lambda s, k: VGG(s, k),  # VGG16_CFG
    "resnet18": lambda s, k: ResNet(s, k, BasicBlock, (2, 2, 2, 2)),
    "resnet50": lambda s, k: ResNet(s, k, Bottleneck, (3, 4, 6, 3)),
}


def build_model(
    name: str, input_shape: Sequence[int], num_classes: int, seed: int | None = None, **kwargs
) -> nn.Module:
    """Build and initialise model ``name``; with ``seed`` the initialisation is reproducible.

    ``name`` is a registry name (:data:`MODELS`; ``kwargs`` go to the builder, only ``mlp``
    takes any: ``widths``) or an import path ``module:Name`` / ``torchvision:builder``
    (:mod:`prunelimit.models.import_path`: ``kwargs`` are its ``model_args``; it keeps its own
    initialisation and is checked for prunable weights and ``(N, num_classes)`` logits).
    """
    if is_import_path(name):
        if seed is not None:
            torch.manual_seed(seed)
        model = build_imported(name, input_shape, num_classes, **kwargs)
        try:
            check_network(model, input_shape, num_classes)
        except ModelError as err:
            raise ModelError(f"model {name!r}: {err}") from None
        return model
    if name not in MODELS:
        raise ValueError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}, or an import "
            "path 'package.module:Name' or 'torchvision:<builder>'"
        )
    if seed is not None:
        torch.manual_seed(seed)
    return init_weights(MODELS[name](tuple(input_shape), int(num_classes), **kwargs))
