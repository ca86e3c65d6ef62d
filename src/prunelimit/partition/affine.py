"""A ReLU network as a chain of affine maps, for the exact partition (:mod:`.exact`).

The network's leaf modules, in registration order, must be affine ones and ``ReLU``: ``Linear``,
``Conv1d``/``Conv2d``, ``BatchNorm1d``/``BatchNorm2d`` (eval mode: its running statistics),
average pooling, ``Flatten``, ``Dropout`` and ``Identity`` (identities in eval mode). The affine
modules between two ReLUs fold into one map, so hidden layer ``l``'s pre-activation is
``W_l h_{l-1} + b_l`` (``h_0`` the flattened input, every tensor flattened in PyTorch's order):
exactly the input of the ``l``-th ``nn.ReLU``, whose sign is the partition code of
:mod:`.codes` (the BN output for BatchNorm networks). The maps after the last ReLU fold into the
head, which gives the logits. ``Linear`` and a ``BatchNorm1d`` on features are read from their
parameters; any other affine module is lowered to its dense matrix, ``W e_i = m(e_i) - m(0)`` on
the unit inputs ``e_i`` and ``b = m(0)`` (float64), while the matrix holds at most
:data:`MAX_LOWERED` entries (a small convnet's layers; not VGG16's 3,072 x 65,536 first one).
Max pooling and shortcuts are not affine maps of one chain: such networks are refused (a
shortcut by the check). Pruned weights are zeros in the model: nothing else is read. The chain
is checked against the model's forward pass (:func:`affine_chain`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

_IDENTITIES = (nn.Dropout, nn.Identity)
# affine in eval mode, lowered to a dense matrix (Linear and feature BatchNorm1d are read)
_LOWERED = (nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool1d, nn.AvgPool2d,
            nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)  # fmt: skip
MAX_LOWERED = 2**24  # entries of a lowered module's matrix (128 MB in float64)


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


@torch.no_grad()
def _lowered(m: nn.Module, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(W, b) of the affine module ``m`` (eval mode) on inputs of ``shape`` (one sample), by
    its images of zero and of the unit inputs (module docstring), and its output shape."""
    net = copy.deepcopy(m).double().eval().cpu()
    n = math.prod(shape)
    zero = net(torch.zeros(1, *shape, dtype=torch.float64))
    if n * max(n, zero.numel()) > MAX_LOWERED:
        raise NotAnMLP(
            f"its {type(m).__name__} maps {n} inputs to {zero.numel()} outputs: a dense matrix "
            f"beyond {MAX_LOWERED:,} entries for the exact partition"
        )
    images = net(torch.eye(n, dtype=torch.float64).reshape(n, *shape)).reshape(n, -1)
    b = zero.reshape(-1)
    return (images - b).T.numpy(), b.numpy(), tuple(zero.shape[1:])


def _step(m: nn.Module, shape: tuple[int, ...]) -> tuple[tuple | None, tuple[int, ...]]:
    """The map of one affine leaf on inputs of ``shape`` ((W, b), or None for a reshape or an
    identity) and its output shape."""
    if isinstance(m, _IDENTITIES):
        return None, shape
    if isinstance(m, nn.Flatten):
        return None, (math.prod(shape),)
    if isinstance(m, nn.Linear):
        if shape != (m.in_features,):
            raise NotAnMLP(f"a Linear of {m.in_features} inputs meets inputs of shape {shape} "
                           "in registration order: the modules are no chain")  # fmt: skip
        return _module_map(m), (m.out_features,)
    if isinstance(m, nn.BatchNorm1d) and shape == (m.num_features,):
        return _module_map(m), shape
    try:
        w, b, out = _lowered(m, shape)
    except RuntimeError as err:  # another input than registration order gives (a shortcut's)
        raise NotAnMLP(f"its {type(m).__name__} does not take inputs of shape {shape} in "
                       "registration order: the modules are no chain") from err  # fmt: skip
    return (w, b), out


def _fold(maps: list[tuple[np.ndarray, np.ndarray]], width: int) -> tuple[np.ndarray, np.ndarray]:
    """The composition of ``maps`` (applied in order) on inputs of ``width`` features."""
    if not maps:
        return np.eye(width), np.zeros(width)
    w, b = maps[0]
    for wm, bm in maps[1:]:
        w, b = wm @ w, wm @ b + bm
    return w, b


def relu_leaves(model: nn.Module) -> list[nn.Module]:
    """The leaf modules of ``model`` in registration order, checked to be affine modules and
    ReLUs the chain reads (module docstring; :class:`NotAnMLP` otherwise)."""
    leaves = [m for m in model.modules() if not list(m.children())]
    allowed = (nn.Linear, nn.ReLU, nn.Flatten, *_LOWERED, *_IDENTITIES)
    others = sorted({type(m).__name__ for m in leaves if not isinstance(m, allowed)})
    if others:
        raise NotAnMLP(
            "the exact partition needs a chain of ReLUs and affine modules (Linear, Conv1d/2d, "
            "BatchNorm, average pooling, Flatten, Dropout, Identity); the model also has "
            f"{', '.join(others)}"
        )
    return leaves


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
    """``model`` (a chain of ReLUs and affine modules, see the module docstring) as a chain of
    affine maps, float64.

    ``inputs`` (N, *input_shape): the forward pass of the chain on them must give the model's
    logits (eval mode) to ``1e-4`` of their scale, else :class:`NotAnMLP` (a forward that does not
    call its modules in registration order, or adds a shortcut, say)."""
    shape = tuple(inputs.shape[1:])
    width = math.prod(shape)
    hidden, pending = [], []
    for m in relu_leaves(model):
        if isinstance(m, nn.ReLU):
            hidden.append(_fold(pending, width))
            width, pending = len(hidden[-1][1]), []
            continue
        step, shape = _step(m, shape)
        if step is not None:
            pending.append(step)
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
            "the model's affine and ReLU modules, composed in registration order, do not give "
            "its outputs (a shortcut, or another order of calls): the exact partition cannot "
            "read it as a chain"
        )
