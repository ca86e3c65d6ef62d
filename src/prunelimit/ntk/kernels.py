"""Empirical neural tangent kernels ``Theta(x, y) = <df(x)/dW, df(y)/dW>`` over the trainable
parameters (pruned entries of a :class:`~prunelimit.ntk.network.PrunedMLP` have zero gradient,
so only kept weights count), in three implementations that agree up to rounding:
:func:`empirical_ntk` for any module (``torch.func`` per-sample Jacobians, contracted in
chunks), :func:`mlp_ntk` for the pruned MLP (one batched ``vjp``, contracted layer by layer,
used by the sweeps) and :func:`naive_ntk` (one ``autograd.grad`` per sample and output, the
reference). ``x2=None`` means ``x2 = x1``; for vector outputs ``mode="trace"`` returns the trace
over outputs ``(N1, N2)`` (the NTK itself for scalar output) and ``mode="full"`` the blocks
``(N1, N2, O, O)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from prunelimit.ntk.network import PrunedMLP

Mode = Literal["trace", "full"]


def _contract(ja: dict[str, torch.Tensor], jb: dict[str, torch.Tensor], mode: Mode) -> torch.Tensor:
    """Sum over parameters of per-sample Jacobian products; ``J[name]`` is ``(n, O, P_name)``."""
    out = None
    for name, a in ja.items():
        b = jb[name]
        na, o, _ = a.shape
        nb = b.shape[0]
        if mode == "trace":
            blk = torch.einsum("aop,bop->ab", a, b)
        else:
            blk = (a.reshape(na * o, -1) @ b.reshape(nb * o, -1).T).view(na, o, nb, o)
            blk = blk.permute(0, 2, 1, 3)
        out = blk if out is None else out + blk
    assert out is not None
    return out


def ntk_from_fn(
    fn: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
    params: dict[str, torch.Tensor],
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    chunk_size: int = 64,
    mode: Mode = "trace",
) -> torch.Tensor:
    """Empirical NTK of ``fn(params, x) -> (O,)`` (one unbatched sample) with ``torch.func``.

    Per-sample Jacobians come from ``vmap(jacrev(fn))`` over chunks of ``chunk_size`` samples
    and are contracted block by block, so memory stays about ``2 * chunk_size * O * P`` numbers.
    ``x2=None`` means ``x2 = x1`` (only the upper blocks are computed). Returns ``(N1, N2)`` for
    ``mode="trace"`` (sum over the ``O`` outputs; the NTK itself for scalar output) or
    ``(N1, N2, O, O)`` for ``mode="full"``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if mode not in ("trace", "full"):
        raise ValueError(f"mode must be 'trace' or 'full', got {mode!r}")
    params = {k: v.detach() for k, v in params.items()}
    jac = vmap(jacrev(fn), in_dims=(None, 0))

    def jacobians(x: torch.Tensor) -> dict[str, torch.Tensor]:
        j = jac(params, x)
        return {k: v.reshape(v.shape[0], v.shape[1], -1) for k, v in j.items()}

    sym = x2 is None
    xb = x1 if x2 is None else x2
    n1, n2 = len(x1), len(xb)
    starts1, starts2 = range(0, n1, chunk_size), range(0, n2, chunk_size)
    out: torch.Tensor | None = None
    for a in starts1:
        ja = jacobians(x1[a : a + chunk_size])
        for b in starts2:
            if sym and b < a:
                continue
            jb = ja if sym and b == a else jacobians(xb[b : b + chunk_size])
            blk = _contract(ja, jb, mode)
            if out is None:
                shape = (n1, n2) + tuple(blk.shape[2:])
                out = torch.zeros(shape, dtype=blk.dtype, device=blk.device)
            out[a : a + blk.shape[0], b : b + blk.shape[1]] = blk
            if sym and b != a:
                t = blk.T if mode == "trace" else blk.permute(1, 0, 3, 2)
                out[b : b + blk.shape[1], a : a + blk.shape[0]] = t
    assert out is not None
    return out


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    chunk_size: int = 64,
    mode: Mode = "trace",
) -> torch.Tensor:
    """Empirical NTK of any ``nn.Module`` over its trainable parameters (see :func:`ntk_from_fn`).

    The module is called as is on batches of one sample (``model(x[None])``), so put modules
    with batch statistics (BatchNorm) in eval mode first. Outputs are flattened to ``(O,)``.
    """
    params = {k: v for k, v in model.named_parameters() if v.requires_grad}
    buffers = dict(model.named_buffers())

    def fn(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, buffers), (x.unsqueeze(0),)).reshape(-1)

    return ntk_from_fn(fn, params, x1, x2, chunk_size=chunk_size, mode=mode)


def naive_ntk(
    model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *, mode: Mode = "trace"
) -> torch.Tensor:
    """Reference NTK: one ``autograd.grad`` per sample and output, full gradients stacked.

    Same conventions and return shapes as :func:`empirical_ntk`; memory ``(N1 + N2) O P``.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def grads(x: torch.Tensor) -> torch.Tensor:
        rows = []
        for i in range(len(x)):
            out = model(x[i : i + 1]).reshape(-1)
            for o in range(out.numel()):
                g = torch.autograd.grad(out[o], params, retain_graph=o < out.numel() - 1)
                rows.append(torch.cat([t.reshape(-1) for t in g]))
        return torch.stack(rows).view(len(x), -1, rows[0].numel())

    ja = grads(x1)
    jb = ja if x2 is None else grads(x2)
    return _contract({"all": ja}, {"all": jb}, mode)


def _activations_and_cotangents(
    model: PrunedMLP, x: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor], int]:
    """Per layer ``k``: its input ``g_k`` (N, n_in) and ``d f_o / d z_k`` (N * O, n_out).

    ``z_k`` is the layer output; cotangents come from one batched ``torch.func.vjp`` per output
    (vmapped), exact per sample because the samples of a batch do not interact. Rows of the
    cotangents are ordered (sample, output).
    """
    h0 = x.flatten(1)
    weights = [model.effective_weight(k).detach() for k in range(len(model.weights))]

    def forward(probes: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h, gs = h0, []
        for k, w in enumerate(weights):
            if k > 0:
                h = torch.relu(h)
            gs.append(h)
            h = model.scales[k] * (h @ w.T) + probes[k]
        return h, gs

    probes = [h0.new_zeros(len(h0), w.shape[0]) for w in weights]
    out, vjp_fn, gs = torch.func.vjp(forward, probes, has_aux=True)
    n, o = out.shape
    basis = torch.eye(o, dtype=out.dtype, device=out.device)[:, None, :].expand(o, n, o)
    (deltas,) = vmap(vjp_fn)(basis)  # each (O, N, n_out)
    deltas = [d.permute(1, 0, 2).reshape(n * o, -1) for d in deltas]
    return [g.detach() for g in gs], deltas, o


def _layer_kernel(
    g1: torch.Tensor,
    d1: torch.Tensor,
    g2: torch.Tensor,
    d2: torch.Tensor,
    mask: torch.Tensor | None,
    sym: bool,
    pair_chunk: int,
) -> torch.Tensor:
    """``K[r, s] = sum_ij M_ij d1[r, i] d2[s, i] g1[r, j] g2[s, j]`` for rows ``r``, ``s``.

    ``M = 1`` (``mask=None``) factorises; a narrow mask (readout) is summed per output unit;
    otherwise blocks of about ``pair_chunk`` row pairs go through one matrix product with ``M``
    (for ``sym`` only the upper triangle, then mirrored).
    """
    if mask is None:
        return (d1 @ d2.T) * (g1 @ g2.T)
    r1, r2 = len(g1), len(g2)
    n_out, n_in = mask.shape
    if n_out <= 8:
        return sum(torch.outer(d1[:, i], d2[:, i]) * ((g1 * mask[i]) @ g2.T) for i in range(n_out))
    k = g1.new_zeros(r1, r2)
    rb = max(1, pair_chunk // r2)
    if sym:
        rb = min(rb, -(-r1 // 8))
    for a0 in range(0, r1, rb):
        a1 = min(a0 + rb, r1)
        b0 = a0 if sym else 0
        gp = (g1[a0:a1, None, :] * g2[None, b0:, :]).reshape(-1, n_in)
        h = (gp @ mask.T).view(a1 - a0, r2 - b0, n_out)
        k[a0:a1, b0:] = (h * (d1[a0:a1, None, :] * d2[None, b0:, :])).sum(-1)
    if sym:
        k = torch.triu(k) + torch.triu(k, 1).T
    return k


def mlp_ntk(
    model: PrunedMLP,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    mode: Mode = "trace",
    pair_chunk: int = 4096,
) -> torch.Tensor:
    """Exact empirical NTK of a :class:`PrunedMLP` by per-layer Jacobian contraction.

    Same result and conventions as :func:`empirical_ntk`, without materialising per-sample
    Jacobians: ``df/dW_k = c_k M_k * (delta_k g_k^T)``, so layer ``k`` adds
    ``c_k^2 sum_ij M_ij delta_a,i delta_b,i g_a,j g_b,j``; an unpruned layer costs
    ``(D D^T) * (G G^T)``, a pruned one a matrix product per ``pair_chunk`` sample pairs.
    """
    if mode not in ("trace", "full"):
        raise ValueError(f"mode must be 'trace' or 'full', got {mode!r}")
    sym = x2 is None
    g1s, d1s, o = _activations_and_cotangents(model, x1)
    g2s, d2s, _ = (g1s, d1s, o) if sym else _activations_and_cotangents(model, x2)
    k_rows = None
    for k in range(len(model.weights)):
        mask = getattr(model, f"mask{k}") if model.masked[k] else None
        g1 = g1s[k].repeat_interleave(o, dim=0) if o > 1 else g1s[k]
        g2 = g2s[k].repeat_interleave(o, dim=0) if o > 1 else g2s[k]
        blk = model.scales[k] ** 2 * _layer_kernel(g1, d1s[k], g2, d2s[k], mask, sym, pair_chunk)
        k_rows = blk if k_rows is None else k_rows + blk
    assert k_rows is not None
    n1, n2 = len(g1s[0]), len(g2s[0])
    k4 = k_rows.view(n1, o, n2, o)
    return torch.einsum("aobo->ab", k4) if mode == "trace" else k4.permute(0, 2, 1, 3)
