"""Bias-free ReLU MLP in the NTK parametrisation of Arora et al. (2019), which Yang & Wang
(AISTATS 2023) follow, with random pruning at initialisation: ``depth`` hidden layers of width
``n`` and a linear readout, ``f_1 = s W_1 x``, ``f_h = c_h (M_h * W_h) relu(f_{h-1})`` for
``h = 2..depth+1``, every ``W`` entry ``N(0, 1)``; ``s = input_scale`` (1 for unit-norm inputs,
so that ``S_0 = <x, y>``); ``c_h = sqrt(2 / n_in)`` with ``n_in`` the fan-in of layer ``h``, and
with the rescaling of the pruned network ``c_h = sqrt(2 / (n_in (1 - p)))``, i.e. kept weights
times ``1/sqrt(1 - p)``. Every entry of ``W_2 .. W_{depth+1}`` (the readout included) is kept
independently with probability ``1 - p``; the first layer is never pruned, and ``p = 0`` gives
no masks at all, so that the rescaling is then exactly the identity. Random numbers come from
explicit CPU generators seeded by :func:`derive_seed`, so they do not depend on the device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def derive_seed(*keys: int) -> int:
    """A 63-bit seed that is a deterministic function of integer ``keys`` (via SeedSequence)."""
    words = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, dtype=np.uint32)
    return int((int(words[0]) << 31) ^ int(words[1])) & (2**63 - 1)


def init_weights(
    in_dim: int,
    width: int,
    depth: int,
    out_dim: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    """``N(0, 1)`` weights ``[W_1 (n, in), W_2 .. W_depth (n, n), W_out (out, n)]``.

    Drawn on the generator's device (pass a CPU generator for device-independent numbers).
    """
    dims = [in_dim] + [width] * depth + [out_dim]
    device = generator.device if generator is not None else torch.device("cpu")
    return [
        torch.randn(dims[k + 1], dims[k], generator=generator, dtype=dtype, device=device)
        for k in range(len(dims) - 1)
    ]


def random_masks(
    shapes: Sequence[torch.Size | tuple[int, ...]],
    p: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor | None]:
    """Bernoulli(1 - p) keep masks for every layer but the first (``None`` there, and for p = 0)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"pruning probability p must be in [0, 1), got {p}")
    device = generator.device if generator is not None else torch.device("cpu")
    masks: list[torch.Tensor | None] = [None]
    for shape in shapes[1:]:
        if p == 0.0:
            masks.append(None)
        else:
            u = torch.rand(tuple(shape), generator=generator, device=device)
            masks.append((u >= p).to(dtype))
    return masks


class PrunedMLP(nn.Module):
    """Bias-free ReLU MLP in NTK parametrisation with fixed random pruning masks.

    ``weights[k]`` are the raw ``N(0, 1)`` matrices (the trainable parameters); ``masks[k]`` are
    buffers (``None``: layer not pruned). Layer ``k >= 1`` output is multiplied by
    ``sqrt(2 / (fan_in * keep))`` with ``keep = 1 - p`` if ``rescale`` else 1; layer 0 by
    ``input_scale``. Inputs of any shape ``(N, ...)`` are flattened; the output is ``(N, out)``.
    ``copy=False`` shares the given tensors instead of cloning them (cheap sweeps, no training).
    """

    def __init__(
        self,
        weights: Sequence[torch.Tensor],
        masks: Sequence[torch.Tensor | None] | None = None,
        p: float = 0.0,
        rescale: bool = False,
        input_scale: float = 1.0,
        copy: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"pruning probability p must be in [0, 1), got {p}")
        masks = list(masks) if masks is not None else [None] * len(weights)
        if len(masks) != len(weights) or masks[0] is not None:
            raise ValueError("need one mask per layer, and the first layer is never pruned")
        self.p, self.rescale, self.input_scale = float(p), bool(rescale), float(input_scale)
        own = (lambda t: t.detach().clone()) if copy else (lambda t: t.detach())
        self.weights = nn.ParameterList([nn.Parameter(own(w)) for w in weights])
        self.masked: list[bool] = []
        for k, m in enumerate(masks):
            if m is not None and m.shape != weights[k].shape:
                raise ValueError(f"mask {k} has shape {tuple(m.shape)}, weight {weights[k].shape}")
            self.register_buffer(f"mask{k}", None if m is None else own(m))
            self.masked.append(m is not None)
        keep = 1.0 - self.p if self.rescale else 1.0
        self.scales = [self.input_scale] + [
            math.sqrt(2.0 / (w.shape[1] * keep)) for w in list(weights)[1:]
        ]

    @property
    def depth(self) -> int:
        return len(self.weights) - 1

    def effective_weight(self, k: int) -> torch.Tensor:
        w = self.weights[k]
        return w * getattr(self, f"mask{k}") if self.masked[k] else w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for k in range(len(self.weights)):
            if k > 0:
                h = torch.relu(h)
            h = self.scales[k] * (h @ self.effective_weight(k).T)
        return h


def pruned_mlp(
    in_dim: int,
    width: int,
    depth: int,
    p: float = 0.0,
    rescale: bool = False,
    *,
    seed: int = 0,
    mask_seed: int | None = None,
    out_dim: int = 1,
    input_scale: float = 1.0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> PrunedMLP:
    """Build a :class:`PrunedMLP`: weights from ``seed``, masks from ``mask_seed`` (both on CPU).

    The same ``seed`` with different ``p`` gives the same weights (only the masks differ);
    ``mask_seed`` defaults to ``derive_seed(seed, 1)``.
    """
    gw = torch.Generator().manual_seed(seed)
    weights = init_weights(in_dim, width, depth, out_dim, gw, dtype)
    gm = torch.Generator().manual_seed(derive_seed(seed, 1) if mask_seed is None else mask_seed)
    masks = random_masks([w.shape for w in weights], p, gm, dtype)
    return PrunedMLP(weights, masks, p, rescale, input_scale).to(device)


def kept_fraction(model: PrunedMLP) -> float:
    """Fraction of kept entries over the prunable layers (all layers but the first)."""
    kept = total = 0
    for k in range(1, len(model.weights)):
        n = model.weights[k].numel()
        total += n
        kept += int(getattr(model, f"mask{k}").sum().item()) if model.masked[k] else n
    return kept / total
