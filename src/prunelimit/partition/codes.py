"""ReLU partition codes: which region of a network's input-space partition each input lies in.

A ReLU network is a continuous piecewise-affine spline; the sign pattern of its pre-activations
on an input says which region of the input-space partition the input lies in (You et al., TMLR
2022; Cai et al., CPAIOR 2023). Conventions:

- **Partition code** of a model on an input set ``X``: for every ``nn.ReLU`` module (in call
  order), the bits ``input > 0`` of its input, one row per input. For BatchNorm networks the
  ReLU input is the BN output. Functional ``torch.relu`` calls are refused
  (:func:`check_relu_modules`): only ``nn.ReLU`` modules are hooked. Codes are computed in eval
  mode.
- **Distance** between two codes: per layer, the fraction of differing bits over all inputs
  and units (normalised Hamming distance), then the mean over layers (each layer weighs the
  same, whatever its width).
- A **region** met by a set of inputs is a distinct whole code among them
  (:func:`distinct_codes`).

Codes are stored packed (64 bits per ``uint64`` word, one array per layer), so a 100x100 grid
on a 256-256-128 MLP takes 0.8 MB; distances use ``numpy.bitwise_count``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

if TYPE_CHECKING:
    pass

Code = list[np.ndarray]  # one packed bit array per ReLU layer


def relu_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ``nn.ReLU`` modules of ``model`` (name, module), in registration order."""
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
    if not found:
        raise ValueError("the model has no nn.ReLU module to read partition codes from")
    return found


# Every way to apply a ReLU as a function; nn.ReLU modules call ``F.relu`` once each.
_RELU_FUNCTIONS = frozenset(
    {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}
)


class _ReluCalls(TorchFunctionMode):
    """Counts the ReLU calls of a forward pass, module or function alike."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELU_FUNCTIONS:
            self.count += 1
        return func(*args, **(kwargs or {}))


def _check_every_relu_is_a_module(module_calls: int, all_calls: int) -> None:
    if all_calls > module_calls:
        raise ValueError(
            f"the model applies ReLU as a function (torch.relu, F.relu or Tensor.relu) in "
            f"{all_calls - module_calls} of its {all_calls} ReLU calls per forward pass: the "
            "partition code is read at nn.ReLU modules, so those units would be missing from "
            "it; make every ReLU an nn.ReLU module"
        )


@torch.no_grad()
def check_relu_modules(model: nn.Module, x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless every ReLU of ``model``'s forward pass on ``x`` is an
    ``nn.ReLU`` module, the only ReLUs the partition code can see."""
    partition_bits(model, x)


@torch.no_grad()
def partition_bits(model: nn.Module, x: torch.Tensor, batch_size: int = 2500) -> list[torch.Tensor]:
    """Unpacked partition code: one bool tensor (N, units) per ReLU call, in call order.
    Raises ``ValueError`` when a ReLU is applied as a function (its units would be missing)."""
    return bits_and_classes(model, x, batch_size)[0]


@torch.no_grad()
def bits_and_classes(
    model: nn.Module, x: torch.Tensor, batch_size: int = 2500
) -> tuple[list[torch.Tensor], np.ndarray]:
    """:func:`partition_bits` and :func:`predicted_classes` of ``x`` from one forward pass."""
    calls: list[list[torch.Tensor]] = []
    classes: list[torch.Tensor] = []
    position = [0]

    def hook(_module: nn.Module, args: tuple) -> None:
        bits = (args[0] > 0).flatten(1).cpu()
        if position[0] == len(calls):
            calls.append([])
        calls[position[0]].append(bits)
        position[0] += 1

    handles = [m.register_forward_pre_hook(hook) for _, m in relu_modules(model)]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(x), batch_size):
            position[0] = 0
            if start == 0:  # one batch shows the forward pass's ReLUs
                with _ReluCalls() as relus:
                    out = model(x[:batch_size])
                _check_every_relu_is_a_module(position[0], relus.count)
            else:
                out = model(x[start : start + batch_size])
            classes.append(out.argmax(1).cpu())
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return [torch.cat(parts) for parts in calls], torch.cat(classes).numpy()


def pack(bits: torch.Tensor) -> np.ndarray:
    """Bits packed into ``uint64`` words (zero padded), for fast XOR and popcount."""
    packed = np.packbits(bits.numpy().reshape(-1))
    packed = np.pad(packed, (0, -len(packed) % 8))
    return packed.view(np.uint64)


def hamming(a: Code, b: Code, sizes: Sequence[int]) -> np.ndarray:
    """Per-layer normalised Hamming distance of two packed codes (``sizes``: bits per layer)."""
    return np.array(
        [
            np.bitwise_count(np.bitwise_xor(x, y)).sum(dtype=np.int64) / n
            for x, y, n in zip(a, b, sizes, strict=True)
        ]
    )


def distance_matrix(codes: Sequence[Code], sizes: Sequence[int], block: int = 2048) -> np.ndarray:
    """Symmetric (E, E) matrix of layer-averaged normalised Hamming distances between codes
    (XOR and popcount over blocks of ``block`` words, which keeps the temporaries in cache)."""
    E = len(codes)
    out = np.zeros((E, E))
    for layer, n in enumerate(sizes):
        words = np.stack([c[layer] for c in codes])
        diff = np.zeros((E, E), dtype=np.int64)
        for start in range(0, words.shape[1], block):
            blk = np.ascontiguousarray(words[:, start : start + block])
            for i in range(1, E):
                diff[i, :i] += np.bitwise_count(blk[:i] ^ blk[i]).sum(axis=1, dtype=np.int64)
        out += (diff + diff.T) / n
    return out / len(sizes)


def distinct_codes(bits: Sequence[np.ndarray]) -> int:
    """The number of distinct whole codes among the rows of ``bits`` (one (N, units) bool array
    per layer, the layers' bits side by side): the regions the N inputs meet."""
    # each layer packed on its own (zero padded to whole bytes): the rows are equal exactly
    # when the codes are, without a copy of every layer's bits side by side
    rows = np.ascontiguousarray(
        np.concatenate([np.packbits(np.asarray(b), axis=1) for b in bits], axis=1)
    )
    return len(np.unique(rows.view(np.dtype((np.void, rows.shape[1])))))


@torch.no_grad()
def predicted_classes(model: nn.Module, x: torch.Tensor, batch_size: int = 2500) -> np.ndarray:
    """Argmax class of ``model`` (eval mode) on every input of ``x``."""
    was_training = model.training
    model.eval()
    try:
        out = [model(x[s : s + batch_size]).argmax(1).cpu() for s in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()
