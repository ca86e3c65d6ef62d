"""A ReLU MLP as a chain of affine maps, for the exact partition (:mod:`.exact`).

The network's leaf modules, in registration order, must be ``Flatten`` (before the first
``Linear``), ``Linear``, ``BatchNorm1d`` (eval mode: its running statistics), ``Dropout`` and
``Identity`` (identities in eval mode) and ``ReLU``. The affine modules between two ReLUs fold
into one map, so hidden layer ``l``'s pre-activation is ``W_l h_{l-1} + b_l`` (``h_0`` the
flattened input): exactly the input of the ``l``-th ``nn.ReLU``, whose sign is the partition
code of :mod:`.codes` (the BN output for BatchNorm networks). The maps after the last ReLU fold
into the head, which gives the logits. Pruned weights are zeros in the model: nothing else is
read. The chain is checked against the model's forward pass (:func:`affine_chain`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

_IDENTITIES = (nn.Dropout, nn.Identity)


class NotAnMLP(ValueError):
    """The model cannot be read as a chain of affine maps and ReLUs."""


@dataclass(frozen=True)
class AffineChain:
    """``hidden``: (W (n_l, n_{l-1}), b (n_l,)) of each ReLU layer; ``head``: the logits' map.
    float64 numpy."""

    hidden: list[tuple[np.ndarray, np.ndarray]]
    head: tuple[np.ndarray, np.ndarray]

    @property
    def widths(self) -> list[int]:
        """The hidden widths ``n_1..n_L``."""
        return [len(b) for _, b in self.hidden]

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Pre-activations per layer and logits of flattened inputs ``x`` (N, n_0)."""
        pre, h = [], x
        for w, b in self.hidden:
            pre.append(h @ w.T + b)
            h = np.maximum(pre[-1], 0.0)
        return pre, h @ self.head[0].T + self.head[1]


def _module_map(m: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of an affine leaf module in eval mode, float64."""
    if isinstance(m, nn.Linear):
        w = m.weight.detach().double().cpu().numpy()
        b = np.zeros(len(w)) if m.bias is None else m.bias.detach().double().cpu().numpy()
        return w, b
    if m.running_mean is None or m.running_var is None:
        raise NotAnMLP("a BatchNorm1d without running statistics has no eval-mode map")
    scale = 1.0 / torch.sqrt(m.running_var.double() + m.eps)
    if m.affine:
        scale = scale * m.weight.detach().double()
    shift = -m.running_mean.double() * scale
    if m.affine:
        shift = shift + m.bias.detach().double()
    return np.diag(scale.cpu().numpy()), shift.cpu().numpy()


def _fold(maps: list[tuple[np.ndarray, np.ndarray]], width: int) -> tuple[np.ndarray, np.ndarray]:
    """The composition of ``maps`` (applied in order) on inputs of ``width`` features."""
    if not maps:
        return np.eye(width), np.zeros(width)
    w, b = maps[0]
    for wm, bm in maps[1:]:
        w, b = wm @ w, wm @ b + bm
    return w, b


def mlp_leaves(model: nn.Module) -> list[nn.Module]:
    """The leaf modules of ``model`` in registration order from its first ``Linear``, checked to
    be those of an MLP (:class:`NotAnMLP` otherwise)."""
    leaves = [m for m in model.modules() if not list(m.children())]
    allowed = (nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Flatten, *_IDENTITIES)
    others = sorted({type(m).__name__ for m in leaves if not isinstance(m, allowed)})
    if others:
        raise NotAnMLP(
            "the exact partition needs a ReLU MLP (Linear, BatchNorm1d, ReLU, Flatten, "
            f"Dropout, Identity modules); the model also has {', '.join(others)}"
        )
    first = next((i for i, m in enumerate(leaves) if isinstance(m, nn.Linear)), None)
    if first is None or any(isinstance(m, nn.Flatten) for m in leaves[first:]):
        raise NotAnMLP("the exact partition needs Linear layers after any Flatten")
    return leaves[first:]


@torch.no_grad()
def affine_chain(model: nn.Module, inputs: torch.Tensor) -> AffineChain:
    """``model`` (a ReLU MLP, see the module docstring) as a chain of affine maps, float64.

    ``inputs`` (N, *input_shape): the forward pass of the chain on them must give the model's
    logits (eval mode) to ``1e-4`` of their scale, else :class:`NotAnMLP` (a forward that does not
    call its modules in registration order, say)."""
    width = int(np.prod(inputs.shape[1:]))
    hidden, pending = [], []
    for m in mlp_leaves(model):
        if isinstance(m, nn.ReLU):
            hidden.append(_fold(pending, width))
            width, pending = len(hidden[-1][1]), []
        elif not isinstance(m, _IDENTITIES):
            pending.append(_module_map(m))
    if not hidden:
        raise NotAnMLP("the model has no ReLU layer: it has no partition to enumerate")
    chain = AffineChain(hidden, _fold(pending, width))
    _check(model, chain, inputs)
    return chain


def _check(model: nn.Module, chain: AffineChain, inputs: torch.Tensor) -> None:
    """Raise :class:`NotAnMLP` unless ``chain`` reproduces ``model``'s logits on ``inputs``."""
    was_training = model.training
    model.eval()
    try:
        want = model(inputs).double().cpu().numpy()
    finally:
        model.train(was_training)
    got = chain.forward(inputs.reshape(len(inputs), -1).double().cpu().numpy())[1]
    if got.shape != want.shape or np.abs(got - want).max() > 1e-4 * (1 + np.abs(want).max()):
        raise NotAnMLP(
            "the model's Linear/BatchNorm/ReLU modules, composed in registration order, do not "
            "give its outputs: the exact partition cannot read it as an MLP"
        )
