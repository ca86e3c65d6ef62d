"""The optimizer of every training, and its update step."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from prunelimit.config.settings import TrainSettings


def sgd(model: nn.Module, s: TrainSettings) -> torch.optim.SGD:
    """The optimizer of every training: SGD with momentum and weight decay."""
    return torch.optim.SGD(
        model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay
    )


def optimizer_step(opt: torch.optim.Optimizer) -> None:
    """``opt.step()`` as the wrappers PyTorch puts around it run it for a non-differentiable
    optimizer (its update under ``no_grad``), without them: one of them imports TorchDynamo
    for a ``torch.compile`` graph break (1.3 s of every training job's start), the other runs
    step hooks, which this package registers none of."""
    with torch.no_grad():
        inspect.unwrap(type(opt).step)(opt)
