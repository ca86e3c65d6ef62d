"""The one Hessian-vector product of the package.

``H`` is the Hessian of the mean training cross-entropy (model in eval mode, no augmentation)
with respect to the prunable weights only; every other parameter and buffer is held fixed. Its
product with a batch of vectors ``V`` (k, D) is computed by forward-over-reverse differentiation
(``torch.func.jvp`` of ``torch.func.grad``), vectorised over the k vectors with ``vmap`` and
accumulated over chunks of samples so memory stays bounded.

With ``cache_primal=True`` each chunk is linearised once (``torch.func.linearize``): the primal
forward and backward pass at ``w*`` are traced and kept, so every later product pays only for
the tangent pass (about 2 gradients instead of 3), at the cost of keeping every chunk's
intermediate activations in memory (samples x activations per sample).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, grad, jvp, linearize, vmap
from torch.nn import functional as F

from prunelimit.pruning import prunable_names


class HessianOperator:
    """Batched matrix-vector products with ``H`` (restricted to ``names``) over ``(x, y)``.

    Vectors are flat, in the order of ``names`` (default: :func:`prunable_names`), float32 on
    the model's device. ``n_hvp`` counts Hessian-vector products (one per vector).

    ``mask`` (flat bool over those coordinates, True = surviving): ``H`` restricted to the
    surviving weights, the pruned ones held where they are (zero in a pruned network); vectors
    then have ``D = mask.sum()`` entries, the surviving coordinates in the same order.
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int = 1024,
        names: Sequence[str] | None = None,
        cache_primal: bool = False,
        mask: torch.Tensor | None = None,
    ):
        self.model = model.eval()
        self.names = list(names) if names is not None else prunable_names(model)
        params = dict(model.named_parameters())
        self.w0 = {n: params[n].detach() for n in self.names}
        self.fixed = {n: p.detach() for n, p in params.items() if n not in self.w0}
        self.fixed.update(dict(model.named_buffers()))
        self.shapes = [self.w0[n].shape for n in self.names]
        self.numels = [self.w0[n].numel() for n in self.names]
        self.D = sum(self.numels)
        self.mask = None
        if mask is not None:
            if mask.numel() != self.D:
                raise ValueError(f"mask has {mask.numel()} entries, the weights {self.D}")
            self.mask = mask.reshape(-1).to(device=params[self.names[0]].device, dtype=torch.bool)
            self.D = int(self.mask.sum())
        self.n = len(y)
        self.chunks = [
            (x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(y), batch_size)
        ]
        self.n_hvp = 0
        self.device = next(iter(self.w0.values())).device
        self.cache_primal = cache_primal
        self._linear: list | None = None

    def _loss(self, w: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor):
        return F.cross_entropy(functional_call(self.model, {**self.fixed, **w}, (xb,)), yb)

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(v, self.numels)
        return {n: p.view(s) for n, p, s in zip(self.names, parts, self.shapes, strict=True)}

    def flatten(self, d: dict[str, torch.Tensor], batch_dims: int = 0) -> torch.Tensor:
        lead = next(iter(d.values())).shape[:batch_dims]
        return torch.cat([d[n].reshape(*lead, -1) for n in self.names], dim=-1)

    def loss(self) -> float:
        """Mean loss over the operator's samples."""
        with torch.no_grad():
            return (
                sum(self._loss(self.w0, xb, yb).item() * len(yb) for xb, yb in self.chunks) / self.n
            )

    def gradient(self) -> torch.Tensor:
        """Gradient of the mean loss (flat, D): the unit of cost of the benchmark."""
        g = torch.zeros(
            sum(self.numels), device=self.device, dtype=next(iter(self.w0.values())).dtype
        )
        for xb, yb in self.chunks:
            g += self.flatten(grad(self._loss)(self.w0, xb, yb)) * (len(yb) / self.n)
        return g if self.mask is None else g[self.mask]

    def matvec(self, V: torch.Tensor) -> torch.Tensor:
        """``H V^T`` for ``V`` of shape (k, D) (or (D,)); returns the same shape."""
        single = V.dim() == 1
        V = V[None] if single else V
        if self.mask is not None:  # the surviving coordinates into the full vector, pruned 0
            full = V.new_zeros(V.shape[0], self.mask.numel())
            full[:, self.mask] = V
            V = full
        out = torch.zeros_like(V)
        if self.cache_primal and self._linear is None:
            with warnings.catch_warnings():  # torch.fx const folding warns on every trace
                warnings.filterwarnings("ignore", "Attempted to insert a get_attr Node")
                self._linear = [
                    linearize(grad(lambda w, xb=xb, yb=yb: self._loss(w, xb, yb)), self.w0)[1]
                    for xb, yb in self.chunks
                ]
        for c, (xb, yb) in enumerate(self.chunks):
            if self._linear is not None:  # a loop: vmap over the traced graph measured slower
                hv = torch.stack([self.flatten(self._linear[c](self.unflatten(v))) for v in V])
            else:
                g = grad(lambda w, xb=xb, yb=yb: self._loss(w, xb, yb))

                def hvp(v, g=g):
                    return jvp(g, (self.w0,), (self.unflatten(v),))[1]

                hv = self.flatten(vmap(hvp)(V), batch_dims=1)
            out += hv * (len(yb) / self.n)
        self.n_hvp += V.shape[0]
        out = out if self.mask is None else out[:, self.mask]
        return out[0] if single else out
