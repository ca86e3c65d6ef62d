"""The ``pyhessian`` spectrum engine: the pyhessian package's power iteration, Hutchinson trace
and SLQ density, one probe at a time through autograd, on the samples and weights of a
:class:`~prunelimit.curvature.operator.HessianOperator` (see
:mod:`prunelimit.curvature.spectrum`)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from prunelimit.curvature.operator import HessianOperator


@contextlib.contextmanager
def _torch_eig_for_pyhessian() -> Iterator[None]:
    """pyhessian 0.1 calls ``torch.eig`` (removed from PyTorch) on its symmetric tridiagonal
    matrix; supply it through ``torch.linalg.eigh`` for the duration of the call."""
    original = getattr(torch, "eig", None)

    def eig(a: torch.Tensor, eigenvectors: bool = False):
        vals, vecs = torch.linalg.eigh(a)
        return torch.stack([vals, torch.zeros_like(vals)], 1), vecs

    torch.eig = eig
    try:
        yield
    finally:
        if original is None:
            del torch.eig
        else:
            torch.eig = original


def pyhessian_spectrum(
    model: nn.Module,
    op: HessianOperator,
    steps: int,
    probes: int,
    top_k: int,
    seed: int,
    power_iterations: int = 100,
) -> dict:
    """The same quantities through pyhessian, on the same samples and weights as ``op``."""
    from pyhessian import hessian as PyHessian

    keep = {n: p.requires_grad for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(n in op.w0)
    try:
        torch.manual_seed(seed)
        comp = PyHessian(
            model.eval(), nn.CrossEntropyLoss(), dataloader=op.chunks, cuda=op.device.type == "cuda"
        )
        counted = comp.dataloader_hv_product

        def hv(v):
            op.n_hvp += 1
            return counted(v)

        comp.dataloader_hv_product = hv
        top, _ = comp.eigenvalues(maxIter=power_iterations, tol=1e-3, top_n=top_k)
        trace = comp.trace(maxIter=100, tol=1e-3)
        with _torch_eig_for_pyhessian():
            eig, w = comp.density(iter=steps, n_v=probes)
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(keep[n])
    return {
        "nodes": np.asarray(eig, dtype=float),
        "weights": np.asarray(w, dtype=float),
        "top_eigenvalues": sorted(map(float, top), reverse=True),
        "hutchinson_trace": float(np.mean(trace)),
        "hutchinson_trace_se": (
            float(np.std(trace, ddof=1) / math.sqrt(len(trace))) if len(trace) > 1 else math.nan
        ),
        "resolved": None,  # no Lanczos coefficients to take prefixes of
    }
